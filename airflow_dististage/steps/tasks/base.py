"""``Task``: a step that turns each row into a chat, asks an LLM, and formats its answers.

The LLM is loaded once per step run (``load()``) and shared by every batch; ``process`` makes one
``generate`` call per batch. Each output row carries ``model_name`` and ``distilabel_metadata``
with ``raw_input_<step>``, ``raw_output_<step>``, ``statistics_<step>`` (when the LLM reports token
counts) and ``error_<step>`` (when the LLM could not answer that row), as distilabel writes them: that
metadata replaces the one the row had, if the task writes any; any
other per-generation key of the LLM's output (e.g. ``logprobs``) becomes an ``llm_<step>_<key>`` column.

Every ``generate`` call goes through :meth:`Task.generate_outputs`, which counts the input and
output tokens the LLM reports in ``statistics``; the runtime takes them after each batch
(:meth:`Task.take_token_counts`) and stops the step once ``max_tokens_per_run`` is reached.

A task processes as many input batches at once as its LLM asks for
(:meth:`~airflow_dististage.llms.base.LLM.batches_in_flight`), each in a worker thread: ``process``
must not keep per-batch state on the task. Token counts are kept per thread, so each batch's
count is its own.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any, Dict, List, Optional

from airflow_dististage.constants import DISTILABEL_METADATA_KEY
from airflow_dististage.llms.base import LLM, ChatType, GenerateOutput
from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter
from airflow_dististage.runtime.tokens import check_token_budget
from airflow_dististage.steps.base import Step, StepInput
from airflow_dististage.typing import StepOutput

logger = logging.getLogger(__name__)

# What ``LLM.generate`` returns besides these (e.g. ``logprobs``) becomes an ``llm_<step>_<key>`` column.
_NOT_EXTRA_KEYS = ("generations", "statistics", "error")


class Task(Step):
    """A step backed by an LLM; subclasses define ``format_input`` and ``format_output``.

    Args:
        llm: the model that generates.
        group_generations: one row per input with lists of generations, instead of one row per generation.
        num_generations: generations per input row.
        add_raw_output: keep the LLM's raw text in ``distilabel_metadata``.
        add_raw_input: keep the chat sent to the LLM in ``distilabel_metadata``.
        max_tokens_per_run: stop generating once this step's LLM calls used this many tokens (input
            plus output, as the LLM reports them) in a run, all its replicas together (each gets an
            even share). The batch that reaches it is kept; the step then generates no more and
            finishes successfully with the rows it has (see :mod:`~airflow_dististage.runtime.tokens`).
            None: no limit.
    """

    llm: LLM
    group_generations: bool = False
    num_generations: RuntimeParameter[int] = Field(default=1, description="The number of generations per input row.")
    add_raw_output: RuntimeParameter[bool] = Field(
        default=True, description="Keep the raw output of the LLM in `distilabel_metadata`."
    )
    add_raw_input: RuntimeParameter[bool] = Field(
        default=True, description="Keep the chat sent to the LLM in `distilabel_metadata`."
    )
    max_tokens_per_run: RuntimeParameter[Optional[int]] = Field(
        default=None,
        description="Stop generating once the step used this many tokens (input + output) in a run; None: no limit.",
    )

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        if not isinstance(self.llm, LLM):
            raise TypeError(
                f"Step {self.name!r}: llm must be an LLM (vLLM, OpenAILLM, TransformersLLM...),"
                f" got {type(self.llm).__name__}."
            )
        if not isinstance(self.num_generations, int) or self.num_generations < 1:
            raise ValueError(
                f"Step {self.name!r}: num_generations must be an integer >= 1, got {self.num_generations!r}."
            )
        check_token_budget(self.max_tokens_per_run, f"Step {self.name!r}: max_tokens_per_run")
        gpus = self.llm.agree_gpus(self.name, self.resources.gpus)
        if gpus != self.resources.gpus:
            object.__setattr__(self, "resources", dataclasses.replace(self.resources, gpus=gpus))

    # -- life cycle ----------------------------------------------------------------------
    def load(self) -> None:
        """Loads the LLM (once per step run)."""
        super().load()
        self.llm.load()

    def unload(self) -> None:
        """Unloads the LLM, freeing its memory for the next load stage."""
        self.llm.unload()
        super().unload()

    def batches_in_flight(self) -> int:
        """As many input batches at once as the LLM wants (see ``LLM.batches_in_flight``)."""
        return self.llm.batches_in_flight(self.input_batch_size)

    # -- generating ----------------------------------------------------------------------
    def generate_outputs(self, chats: List[ChatType], num_generations: int) -> List[GenerateOutput]:
        """``llm.generate_batch`` with the step's ``generation_kwargs``, counting the tokens it reports."""
        outputs = self.llm.generate_batch(chats, num_generations=num_generations, **self.llm.generation_kwargs)
        counts = self._thread_token_counts()
        for output in outputs:
            statistics = output.get("statistics") or {}
            for position, key in enumerate(("input_tokens", "output_tokens")):
                counts[position] += sum(value for value in statistics.get(key) or () if isinstance(value, int))
        return outputs

    def take_token_counts(self) -> tuple[int, int]:
        """``(input_tokens, output_tokens)`` the LLM reported to this thread since its last call."""
        counts = self._thread_token_counts()
        taken = (counts[0], counts[1])
        counts[:] = [0, 0]
        return taken

    def _thread_token_counts(self) -> list[int]:
        local = self.__dict__.get("_token_counts")
        if local is None:
            local = self.__dict__.setdefault("_token_counts", threading.local())
        if not hasattr(local, "counts"):
            local.counts = [0, 0]
        return local.counts

    # -- formatting ----------------------------------------------------------------------
    def format_input(self, input: Dict[str, Any]) -> ChatType:  # noqa: A002 - distilabel's name
        """The chat sent to the LLM for one row."""
        raise NotImplementedError(f"{type(self).__name__} must implement format_input().")

    def format_output(
        self, output: Optional[str], input: Optional[Dict[str, Any]] = None  # noqa: A002
    ) -> Dict[str, Any]:
        """The output columns for one generation (``None`` when the LLM failed on the row)."""
        raise NotImplementedError(f"{type(self).__name__} must implement format_output().")

    # -- processing ----------------------------------------------------------------------
    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        """One ``generate`` call for the batch; a row per generation (or per input when grouped)."""
        chats = [self.format_input(row) for row in inputs]
        outputs = self.generate_outputs(chats, self.num_generations)
        if len(outputs) != len(inputs):
            raise RuntimeError(
                f"Step {self.name!r}: {type(self.llm).__name__}.generate returned {len(outputs)} outputs"
                f" for {len(inputs)} inputs."
            )
        model_name = self.llm.model_name
        rows: List[Dict[str, Any]] = []
        for row, chat, output in zip(inputs, chats, map(self._padded, outputs)):
            results = [self._result(row, chat, output, index) for index in range(len(output["generations"]))]
            if self.group_generations:
                grouped = {key: [result.get(key) for result in results] for key in results[0]} if results else {}
                rows.append({**row, **grouped, "model_name": model_name})
            else:
                rows.extend({**row, **result, "model_name": model_name} for result in results)
        yield rows

    def _padded(self, output: GenerateOutput) -> GenerateOutput:
        """``output`` with ``None`` generations (and an error) up to ``num_generations``: no row goes missing."""
        generations = list(output.get("generations") or [])
        missing = self.num_generations - len(generations)
        if missing <= 0:
            return output
        statistics = output.get("statistics") or {}
        return {
            **output,
            "generations": generations + [None] * missing,
            "statistics": {
                key: [_nth(values, index) for index in range(len(generations))] + [None] * missing
                for key, values in statistics.items()
            },
            "error": output.get("error")
            or f"{type(self.llm).__name__} returned {len(generations)} of {self.num_generations} generations",
        }

    def _result(self, row: Dict[str, Any], chat: ChatType, output: GenerateOutput, index: int) -> Dict[str, Any]:
        generation = output["generations"][index]
        error = output.get("error")
        try:
            result = self.format_output(generation, row)
        except Exception as failure:  # noqa: BLE001 - a bad answer must not lose the batch
            logger.warning("Step %r could not format an output: %s. Its columns are None.", self.name, failure)
            result = dict.fromkeys(self.outputs)
            error = error or f"format_output failed: {type(failure).__name__}: {failure}"
        metadata: Dict[str, Any] = {}
        if self.add_raw_output:
            metadata[f"raw_output_{self.name}"] = generation
        if self.add_raw_input:
            metadata[f"raw_input_{self.name}"] = chat
        statistics = output.get("statistics") or {}
        if statistics:
            metadata[f"statistics_{self.name}"] = {key: _nth(values, index) for key, values in statistics.items()}
        if error:
            metadata[f"error_{self.name}"] = error
        own = result.get(DISTILABEL_METADATA_KEY)
        metadata = {**own, **metadata} if isinstance(own, dict) else metadata
        if metadata:  # as in distilabel, it replaces the row's; a row keeps its own when the task has none
            result[DISTILABEL_METADATA_KEY] = metadata
        for key, values in output.items():
            if key not in _NOT_EXTRA_KEYS:
                result[f"llm_{self.name}_{key}"] = _nth(values, index) if isinstance(values, list) else values
        return result


def _nth(values: List[Any], index: int) -> Any:
    """``values[index]``, or the last value when an LLM reports one figure for all generations."""
    if index < len(values):
        return values[index]
    return values[-1] if values else None
