"""Merged calls: one ``generate`` call of a sync LLM for several input batches of a step.

An in-process engine (vLLM) is busiest when one call hands it many prompts. The step processes
several input batches at once (:meth:`MergedCallsMixin.batches_in_flight`, each in a worker thread of
the executor, see :mod:`~airflow_dististage.runtime.read_ahead`); their ``generate_batch`` calls meet
in a :class:`CallMerger`, which makes one ``generate`` call for all the waiting ones (until it holds
``prompts_per_call`` prompts) and hands each caller its own outputs, in its own order. While that
call runs the next batches gather, so the next call starts as soon as the engine is free.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, List

from airflow_dististage.llms.base import ChatType, GenerateOutput
from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter

__all__ = ["CallMerger", "MergedCallsMixin"]

FIRST_CALL_WAIT_SECONDS = 0.05
"""How long a call with fewer than ``prompts_per_call`` prompts waits for more while the engine is idle."""

Generate = Callable[..., List[GenerateOutput]]
_MERGER_LOCK = threading.Lock()


class MergedCallsMixin:
    """Gives a sync LLM the ``prompts_per_call`` runtime parameter and merged ``generate`` calls.

    ``prompts_per_call`` None (or 0) keeps one ``generate`` call per input batch.
    """

    prompts_per_call: RuntimeParameter[int] = Field(
        default=256,
        description="Prompts of several input batches merged into one generate call (None: one batch a call).",
    )

    def _validate_attributes(self) -> None:
        super()._validate_attributes()  # type: ignore[misc]
        value = self.prompts_per_call
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{type(self).__name__}.prompts_per_call must be None or an integer >= 0, got {value!r}.")

    def batches_in_flight(self, batch_size: int) -> int:
        """Two calls' worth of input batches: one call's batches run while the next call's gather."""
        if not self.prompts_per_call:
            return 1
        return 2 * math.ceil(self.prompts_per_call / batch_size)

    def generate_batch(
        self, inputs: List[ChatType], num_generations: int = 1, **generation_kwargs: Any
    ) -> List[GenerateOutput]:
        """``generate`` for one input batch, merged with the other batches' calls waiting at that time."""
        if not self.prompts_per_call:
            generate = self.generate  # type: ignore[attr-defined]
            return generate(inputs, num_generations=num_generations, **generation_kwargs)
        with _MERGER_LOCK:
            merger = self.__dict__.get("_call_merger")
            if merger is None:
                merger = CallMerger(self.generate, self.prompts_per_call)  # type: ignore[attr-defined]
                self.__dict__["_call_merger"] = merger
        return merger.generate(inputs, num_generations, generation_kwargs)


@dataclass(eq=False)
class _Call:
    inputs: List[ChatType]
    num_generations: int
    kwargs: dict[str, Any]
    outputs: List[GenerateOutput] | None = None
    error: BaseException | None = None
    done: bool = False
    arrived: float = field(default_factory=time.monotonic)

    def joins(self, other: _Call) -> bool:
        return self.num_generations == other.num_generations and self.kwargs == other.kwargs


class CallMerger:
    """Joins the ``generate`` calls of several threads into one call of ``generate`` at a time.

    Whoever finds the engine free makes the next call, for the oldest waiting call and every later
    one with the same ``num_generations`` and keyword arguments, until ``prompts_per_call`` prompts.
    An error of that call is raised in every thread whose inputs it held.
    """

    def __init__(self, generate: Generate, prompts_per_call: int) -> None:
        self._generate = generate
        self.prompts_per_call = prompts_per_call
        self._changed = threading.Condition()
        self._waiting: list[_Call] = []
        self._busy = False
        self.calls = 0
        """How many ``generate`` calls it made (for tests and benchmarks)."""

    def generate(self, inputs: List[ChatType], num_generations: int, kwargs: dict[str, Any]) -> List[GenerateOutput]:
        """The outputs of ``generate(inputs, num_generations, **kwargs)``, made in a merged call."""
        call = _Call(list(inputs), num_generations, dict(kwargs))
        with self._changed:
            self._waiting.append(call)
            self._changed.notify_all()
            while not call.done:
                if self._busy:
                    self._changed.wait()
                    continue
                self._busy = True
                try:
                    self._run_next()
                finally:
                    self._busy = False
                    self._changed.notify_all()
        if call.error is not None:
            raise call.error
        assert call.outputs is not None
        return call.outputs

    def _run_next(self) -> None:
        """Makes the next merged call; entered and left holding the lock, released while it runs."""
        deadline = self._waiting[0].arrived + FIRST_CALL_WAIT_SECONDS
        while self._prompts_waiting() < self.prompts_per_call and (left := deadline - time.monotonic()) > 0:
            self._changed.wait(left)
        group = self._take_group()
        self._changed.release()
        try:
            prompts = [chat for call in group for chat in call.inputs]
            try:
                outputs = self._generate(prompts, num_generations=group[0].num_generations, **group[0].kwargs)
                if len(outputs) != len(prompts):
                    raise RuntimeError(f"generate returned {len(outputs)} outputs for {len(prompts)} inputs.")
            except BaseException as error:  # noqa: BLE001 - raised in every caller's own thread
                for call in group:
                    call.error = error
            else:
                start = 0
                for call in group:
                    call.outputs = list(outputs[start : start + len(call.inputs)])
                    start += len(call.inputs)
            self.calls += 1
        finally:
            self._changed.acquire()
        for call in group:
            call.done = True

    def _prompts_waiting(self) -> int:
        first = self._waiting[0]
        return sum(len(call.inputs) for call in self._waiting if call.joins(first))

    def _take_group(self) -> list[_Call]:
        first = self._waiting[0]
        group: list[_Call] = []
        prompts = 0
        for call in self._waiting:
            if prompts >= self.prompts_per_call:
                break
            if call.joins(first):
                group.append(call)
                prompts += len(call.inputs)
        taken = {id(call) for call in group}
        self._waiting = [call for call in self._waiting if id(call) not in taken]
        return group
