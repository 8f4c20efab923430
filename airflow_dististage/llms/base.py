"""The LLM base: what every model used by a task provides.

An LLM is a :class:`~airflow_dististage.mixins.runtime_parameters.Declarative` object: building one
imports and loads nothing heavy. ``load()`` runs once per step execution (it may take a GPU),
``generate()`` runs once per batch, ``unload()`` gives everything back.

A row the model could not answer is not a failed batch: its output has ``None`` generations and an
``error`` (:func:`failed_output`), which tasks write to ``distilabel_metadata``. Only a problem every
row would share (refused credentials, an unknown model) fails the step (:class:`FatalLLMError`).
"""

from __future__ import annotations

import gc
import inspect
import re
import sys
import typing
from typing import Any, Dict, List

from airflow_dististage.mixins.runtime_parameters import (
    Declarative,
    Field,
    RuntimeParameter,
    RuntimeParameterInfo,
    plain_value_type,
    suggest,
)
from airflow_dististage.typing import ChatType, GenerateOutput, LLMStatistics

__all__ = [
    "LLM",
    "ChatType",
    "FatalLLMError",
    "GenerateOutput",
    "GenerationError",
    "LLMStatistics",
    "failed_output",
    "release_gpu_memory",
]

_NOT_GENERATION_PARAMETERS = ("self", "inputs", "input", "num_generations")


class GenerationError(Exception):
    """One row could not be answered; the message (already free of secrets) becomes that row's error."""


class FatalLLMError(RuntimeError):
    """Every row would fail the same way (refused credentials, unknown model): the step fails."""


def failed_output(num_generations: int, error: str) -> GenerateOutput:
    """The output of a row the LLM could not answer: ``None`` generations and statistics, and why."""
    return {
        "generations": [None] * num_generations,
        "statistics": {"input_tokens": [None] * num_generations, "output_tokens": [None] * num_generations},
        "error": error,
    }
_DOC_ARGUMENT = re.compile(r"^\s*(\w+):\s*(.*)$")


class LLM(Declarative):
    """Base of the language models a task generates with.

    Subclasses implement ``load``, ``unload``, ``model_name`` and ``generate`` (or, for an
    :class:`~airflow_dististage.llms.async_llm.AsyncLLM`, ``agenerate``). The keyword parameters of
    that method (documented in its ``Args:`` section) are what ``generation_kwargs`` accepts, and
    become runtime parameters (Airflow Params): they shape the requests an LLM sends, never where
    they go nor what it loads, so a run's conf may set them.
    """

    generation_kwargs: RuntimeParameter[Dict[str, Any]] = Field(
        default_factory=dict,
        description="Keyword arguments given to `generate()` for every batch (e.g. temperature).",
    )

    def _validate_attributes(self) -> None:
        if not isinstance(self.generation_kwargs, dict):
            raise TypeError(
                f"{type(self).__name__}.generation_kwargs must be a dict, got {self.generation_kwargs!r}."
            )
        known = self.generation_parameters()
        method = type(self).generation_method()
        takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(method).parameters.values())
        for key in self.generation_kwargs:
            if key not in known and not takes_any:
                raise ValueError(
                    f"{type(self).__name__}.generation_kwargs has {key!r}, which is not a parameter of its"
                    f" {method.__name__}().{suggest(key, known)} Parameters: {sorted(known)}."
                )

    # -- life cycle ----------------------------------------------------------------------
    def load(self) -> None:
        """Loads the model (imports heavy libraries, takes the GPU); once per step run."""

    def unload(self) -> None:
        """Releases what ``load`` took, so the next load stage can use the memory."""

    @property
    def model_name(self) -> str:
        """The name written to the ``model_name`` column."""
        raise NotImplementedError(f"{type(self).__name__} must define model_name.")

    def generate(
        self, inputs: List[ChatType], num_generations: int = 1, **generation_kwargs: Any
    ) -> List[GenerateOutput]:
        """Generates ``num_generations`` texts for each chat in ``inputs`` (one output per input)."""
        raise NotImplementedError(f"{type(self).__name__} must implement generate().")

    def generate_batch(
        self, inputs: List[ChatType], num_generations: int = 1, **generation_kwargs: Any
    ) -> List[GenerateOutput]:
        """``generate`` for one input batch of a step, which may run in a worker thread while the
        step's other batches in flight (see :meth:`batches_in_flight`) do too."""
        return self.generate(inputs, num_generations=num_generations, **generation_kwargs)

    def batches_in_flight(self, batch_size: int) -> int:
        """How many input batches of ``batch_size`` rows a step should process at once with this LLM.

        1 (the default): one batch after the other. More only where concurrent ``generate_batch``
        calls are safe and help: an :class:`~airflow_dististage.llms.async_llm.AsyncLLM` keeps its
        requests in flight across batches, a sync engine merges them into one call
        (:mod:`~airflow_dististage.llms.merged_calls`).
        """
        return 1

    def generate_outputs(
        self, inputs: List[ChatType], num_generations: int = 1, **generation_kwargs: Any
    ) -> List[GenerateOutput]:
        """distilabel's entry point for calling an LLM directly: the same as ``generate``."""
        return self.generate(inputs, num_generations=num_generations, **generation_kwargs)

    # -- resources -----------------------------------------------------------------------
    def agree_gpus(self, step_name: str, gpus: int | None) -> int | None:
        """The GPUs per replica a step using this LLM needs, given the ``gpus`` it declares.

        Called when the step is built and again when runtime parameters change; raises
        ``ValueError`` naming the step when the LLM's own settings disagree with ``gpus``.
        """
        return gpus

    def runs_on_cpu(self) -> bool:
        """Whether this LLM's library runs on the CPU in this process whatever GPUs the step declares,
        so that the step process claims none. Asked in the step process only: it may import the library."""
        return False

    # -- runtime parameters --------------------------------------------------------------
    @classmethod
    def generation_method(cls) -> Any:
        """The method whose keyword parameters ``generation_kwargs`` sets: ``generate``."""
        return cls.generate

    @classmethod
    def generation_parameters(cls) -> dict[str, inspect.Parameter]:
        """The keyword parameters of this class's generation method that ``generation_kwargs`` may set."""
        signature = inspect.signature(cls.generation_method())
        return {
            name: parameter
            for name, parameter in signature.parameters.items()
            if name not in _NOT_GENERATION_PARAMETERS
            and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        }

    def runtime_parameters(self) -> dict[str, RuntimeParameterInfo]:
        """Runtime parameters, with one child of ``generation_kwargs`` per generation parameter."""
        params = super().runtime_parameters()
        info = params.get("generation_kwargs")
        if info is None:
            return params
        method = type(self).generation_method()
        try:
            hints = typing.get_type_hints(method)
        except (NameError, TypeError):  # an annotation this module cannot resolve: leave types unknown
            hints = {}
        descriptions = _argument_descriptions(method)
        info.children = {}
        for name, parameter in self.generation_parameters().items():
            required = parameter.default is parameter.empty and name not in self.generation_kwargs
            info.children[name] = RuntimeParameterInfo(
                name=name,
                value_type=plain_value_type(hints.get(name)),
                default=self.generation_kwargs.get(name, None if required else parameter.default),
                description=descriptions.get(name),
                optional=not required,
                run_conf=info.run_conf,
            )
        return params

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={getattr(self, 'model', None)!r})"


def release_gpu_memory() -> None:
    """Frees unreferenced tensors and returns cached CUDA memory (never imports torch itself)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _argument_descriptions(function: Any) -> dict[str, str]:
    """``name -> text`` from the ``Args:`` section of a Google-style docstring."""
    lines = (inspect.getdoc(function) or "").splitlines()
    descriptions: dict[str, str] = {}
    in_args = False
    current: str | None = None
    for line in lines:
        if line.strip() in ("Args:", "Arguments:"):
            in_args = True
            continue
        if not in_args:
            continue
        if line and not line.startswith(" "):
            break
        match = _DOC_ARGUMENT.match(line)
        if match and line.startswith("    ") and not line.startswith("     "):
            current = match.group(1)
            descriptions[current] = match.group(2).strip()
        elif current and line.strip():
            descriptions[current] += " " + line.strip()
    return descriptions
