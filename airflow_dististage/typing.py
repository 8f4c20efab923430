"""Type aliases used in step signatures, named as in ``distilabel.typing``."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Tuple, Union

StepOutput = Iterator[List[Dict[str, Any]]]
"""What ``Step.process`` yields: batches of rows."""

GeneratorStepOutput = Iterator[Tuple[List[Dict[str, Any]], bool]]
"""What ``GeneratorStep.process`` yields: ``(batch, is_last_batch)`` pairs."""

StepColumns = Union[List[str], Dict[str, bool]]
"""Column names of ``inputs``/``outputs``: a list (all required) or a name -> required mapping."""
