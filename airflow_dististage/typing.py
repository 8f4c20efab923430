"""Type aliases used in step signatures, named as in ``distilabel.typing``."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple, TypedDict, Union

StepOutput = Iterator[List[Dict[str, Any]]]
"""What ``Step.process`` yields: batches of rows."""

GeneratorStepOutput = Iterator[Tuple[List[Dict[str, Any]], bool]]
"""What ``GeneratorStep.process`` yields: ``(batch, is_last_batch)`` pairs."""

StepColumns = Union[List[str], Dict[str, bool]]
"""Column names of ``inputs``/``outputs``: a list (all required) or a name -> required mapping."""

ChatType = List[Dict[str, str]]
"""One conversation: ``[{"role": "user", "content": "..."}, ...]``."""


class LLMStatistics(TypedDict):
    """Token counts, one entry per generation."""

    input_tokens: List[Optional[int]]
    output_tokens: List[Optional[int]]


class GenerateOutput(TypedDict, total=False):
    """What ``LLM.generate`` returns for one input: its generations, statistics and, if it failed, why."""

    generations: List[Optional[str]]
    statistics: LLMStatistics
    error: str
