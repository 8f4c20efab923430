"""``LoadDataFromDicts``: rows given in the pipeline definition."""

from __future__ import annotations

from typing import Any, Dict, List

from airflow_dististage.steps.base import GeneratorStep
from airflow_dististage.typing import GeneratorStepOutput


class LoadDataFromDicts(GeneratorStep):
    """Yields the given rows in batches of ``batch_size``."""

    data: List[Dict[str, Any]]

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        if not isinstance(self.data, list) or not all(isinstance(row, dict) for row in self.data):
            raise TypeError(f"Step {self.name!r}: data must be a list of dicts.")

    @property
    def outputs(self) -> List[str]:
        return list(self.data[0]) if self.data else []

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        if offset >= len(self.data):
            yield [], True
            return
        for start in range(offset, len(self.data), self.batch_size):
            end = start + self.batch_size
            yield [dict(row) for row in self.data[start:end]], end >= len(self.data)
