"""``AsyncLLM``: an LLM that answers one input per coroutine, all the inputs of a batch at once.

Subclasses implement ``agenerate(input, num_generations=1, **kwargs)`` for a single chat, as
distilabel documents it; ``generate`` runs it for every input of the batch concurrently and returns the outputs in input
order. At most ``max_concurrency`` calls are in flight for the LLM as a whole: one
:class:`~airflow_dististage.llms.request_gate.RequestGate` is shared by every ``generate`` call, and
the step processes several input batches at once (:meth:`AsyncLLM.batches_in_flight`), so the
requests of the next batches fill the places the last requests of a batch leave. The coroutines run on an
event loop of the LLM's own, in a daemon thread started on first use (again after a fork), so
``generate`` works from any thread, whether or not that thread already runs an event loop, and
async clients created in ``load()`` always meet the same loop. ``unload()`` stops it.

An exception from ``agenerate`` costs only its row: ``None`` generations and the error (a
:class:`~airflow_dististage.llms.base.GenerationError` gives the error text itself). A
:class:`~airflow_dististage.llms.base.FatalLLMError`, or an output that is not a ``GenerateOutput``,
fails the batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import math
import os
import threading
import weakref
from collections.abc import Coroutine, Mapping
from typing import Any, ClassVar, List

from airflow_dististage.llms.base import (
    LLM,
    ChatType,
    FatalLLMError,
    GenerateOutput,
    GenerationError,
    failed_output,
)
from airflow_dististage.llms.request_gate import RequestGate
from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter

__all__ = ["AsyncLLM", "merge_generations"]

logger = logging.getLogger(__name__)

_CLOSE_TIMEOUT_SECONDS = 10.0
_RUNNER_LOCK = threading.Lock()


class AsyncLLM(LLM):
    """Base of LLMs whose ``agenerate`` answers one chat; ``generate`` answers a batch concurrently.

    Set the class attribute ``_num_generations_param_supported = False`` (distilabel's name) when
    ``agenerate`` makes one generation per call: it is then called ``num_generations`` times per
    input, without ``num_generations``, and the answers are merged.

    Args:
        max_concurrency: most ``agenerate`` calls in flight at once; all inputs of a batch when not set.
    """

    _num_generations_param_supported: ClassVar[bool] = True

    max_concurrency: RuntimeParameter[int] = Field(
        default=None, description="Most agenerate calls in flight at once (all of a batch when not set)."
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        method = cls.__dict__.get("agenerate")
        if method is not None and not inspect.iscoroutinefunction(inspect.unwrap(method)):
            raise TypeError(f"{cls.__name__}.agenerate must be a coroutine function: define it with `async def`.")

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        limit = self.max_concurrency
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise ValueError(f"{type(self).__name__}.max_concurrency must be an integer >= 1, got {limit!r}.")

    @classmethod
    def generation_method(cls) -> Any:
        """``agenerate``: its keyword parameters are what ``generation_kwargs`` sets."""
        return cls.agenerate

    async def agenerate(self, input: ChatType, num_generations: int = 1, **kwargs: Any) -> GenerateOutput:  # noqa: A002
        """Generates ``num_generations`` texts for one chat."""
        raise NotImplementedError(f"{type(self).__name__} must implement agenerate().")

    def generate(
        self, inputs: List[ChatType], num_generations: int = 1, **generation_kwargs: Any
    ) -> List[GenerateOutput]:
        """Runs ``agenerate`` for every chat concurrently and waits for all of them (one output per input)."""
        return self.run_coroutine(self._agenerate_batch(inputs, num_generations, generation_kwargs))

    def batches_in_flight(self, batch_size: int) -> int:
        """Enough input batches to keep ``max_concurrency`` requests in flight, plus one waiting."""
        if not self.max_concurrency:
            return 2
        return math.ceil(self.max_concurrency / batch_size) + 1

    def request_gate(self) -> RequestGate:
        """The gate every ``agenerate`` call of this LLM passes (one per event loop)."""
        runner = self._runner()
        if runner.gate is None:
            runner.gate = self._new_request_gate()
        return runner.gate

    def _new_request_gate(self) -> RequestGate:
        return RequestGate(self.max_concurrency)

    def run_coroutine(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Runs ``coroutine`` on this LLM's event loop and returns its result (e.g. to close a client)."""
        return self._runner().run(coroutine)

    def unload(self) -> None:
        """Stops the event loop thread (subclasses close their clients first, then call this)."""
        runner = self.__dict__.pop("_loop_runner", None)
        if runner is not None:
            runner.close()
        super().unload()

    def _describe_error(self, error: BaseException) -> str:
        """The error text a failed row records."""
        return f"{type(error).__name__}: {error}"

    # -- internals -----------------------------------------------------------------------
    def _runner(self) -> _LoopThread:
        with _RUNNER_LOCK:
            runner = self.__dict__.get("_loop_runner")
            if runner is None or not runner.usable:
                runner = _LoopThread(f"{type(self).__name__}-event-loop")
                self.__dict__["_loop_runner"] = runner
                weakref.finalize(self, runner.close)
            return runner

    async def _agenerate_batch(
        self, inputs: List[ChatType], num_generations: int, kwargs: dict[str, Any]
    ) -> List[GenerateOutput]:
        gate = self.request_gate()
        if self._num_generations_param_supported:
            calls, per_call, kwargs = 1, num_generations, {"num_generations": num_generations, **kwargs}
        else:
            calls, per_call = num_generations, 1

        async def answer(chat: ChatType) -> GenerateOutput:
            async with gate.slot():
                return await self._answer(chat, per_call, kwargs)

        tasks = [[asyncio.ensure_future(answer(chat)) for _ in range(calls)] for chat in inputs]
        flat = [task for group in tasks for task in group]
        if flat:
            try:
                await asyncio.wait(flat, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for task in flat:
                    task.cancel()  # no-op for finished ones; stops the rest when one failed or we were cancelled
            failures = [task.exception() for task in flat if task.done() and not task.cancelled()]
            failure = next((error for error in failures if error is not None), None)
            if failure is not None:
                raise failure
        outputs = [merge_generations([task.result() for task in group]) for group in tasks]
        failed = [output["error"] for output in outputs if output.get("error")]
        if failed:
            logger.warning(
                "%s %s: %d of %d rows got no answer; the first error: %s",
                type(self).__name__, self.model_name, len(failed), len(outputs), failed[0],
            )
        return outputs

    async def _answer(self, chat: ChatType, num_generations: int, kwargs: dict[str, Any]) -> GenerateOutput:
        try:
            output = await self.agenerate(chat, **kwargs)
        except FatalLLMError:
            raise
        except GenerationError as error:
            return failed_output(num_generations, str(error))
        except Exception as error:  # noqa: BLE001 - one row's failure must not lose the batch
            return failed_output(num_generations, self._describe_error(error))
        if not isinstance(output, Mapping) or not isinstance(output.get("generations"), list):
            raise TypeError(
                f"{type(self).__name__}.agenerate must return a dict with a 'generations' list (a"
                f" GenerateOutput), got {output!r}."
            )
        return dict(output)  # type: ignore[return-value]


def merge_generations(outputs: List[GenerateOutput]) -> GenerateOutput:
    """One output from several answers to the same input: generations, statistics and extras joined.

    A statistic or extra key one answer lacks is ``None`` for its generations (an extra that is not
    a list counts for each of its answer's generations); distinct errors are joined by ``; ``.
    """
    if len(outputs) == 1:
        return outputs[0]
    statistic_keys = _keys_of(output.get("statistics") or {} for output in outputs)
    extra_keys = _keys_of({k: v for k, v in output.items() if k not in _OWN_KEYS} for output in outputs)
    merged: dict[str, Any] = {"generations": [], "statistics": {key: [] for key in statistic_keys}}
    merged.update({key: [] for key in extra_keys})
    for output in outputs:
        generations = list(output.get("generations") or [])
        merged["generations"].extend(generations)
        statistics = output.get("statistics") or {}
        for key in statistic_keys:
            merged["statistics"][key].extend(_per_generation(statistics.get(key), len(generations)))
        for key in extra_keys:
            merged[key].extend(_per_generation(output.get(key), len(generations)))
    errors = [output["error"] for output in outputs if output.get("error")]
    if errors:
        merged["error"] = "; ".join(dict.fromkeys(errors))
    return merged  # type: ignore[return-value]


_OWN_KEYS = ("generations", "statistics", "error")


def _keys_of(mappings: Any) -> list[str]:
    return list(dict.fromkeys(key for mapping in mappings for key in mapping))


def _per_generation(value: Any, count: int) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value] * count


class _LoopThread:
    """An event loop running in a daemon thread of the process that created it."""

    def __init__(self, name: str) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.gate: RequestGate | None = None
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def usable(self) -> bool:
        """False in a forked child (the thread did not come along) or once closed."""
        return self.pid == os.getpid() and self.thread.is_alive() and not self.loop.is_closed()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        if threading.current_thread() is self.thread:
            coroutine.close()
            raise RuntimeError("generate() was called from inside agenerate(): await agenerate() there instead.")
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt while waiting: stop the batch's requests too
            raise

    def close(self) -> None:
        """Cancels what still runs, stops the loop and joins the thread (bounded)."""
        if not self.usable:
            return
        if threading.current_thread() is self.thread:  # a finalizer run by the loop itself
            self.loop.call_soon(self.loop.stop)
            return
        try:
            asyncio.run_coroutine_threadsafe(_drain(), self.loop).result(_CLOSE_TIMEOUT_SECONDS)
        except concurrent.futures.TimeoutError:
            logger.warning(
                "An LLM event loop did not finish its tasks within %.0f s; stopping it.", _CLOSE_TIMEOUT_SECONDS
            )
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(_CLOSE_TIMEOUT_SECONDS)
            if not self.thread.is_alive():
                self.loop.close()


async def _drain() -> None:
    """Cancels every other task of the running loop and waits for them, then its async generators."""
    loop = asyncio.get_running_loop()
    others = [task for task in asyncio.all_tasks(loop) if task is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    await loop.shutdown_asyncgens()
