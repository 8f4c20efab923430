"""``LoadDataFromDicts``: rows given in the pipeline definition."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from airflow_dististage.mixins.runtime_parameters import Field
from airflow_dististage.steps.base import GeneratorStep
from airflow_dististage.typing import GeneratorStepOutput


class LoadDataFromDicts(GeneratorStep):
    """Yields the given rows in batches of ``batch_size``.

    Its outputs are ``columns`` when given, else the keys of the first row; with neither (no
    rows), they are unknown and the steps after it are not checked for their input columns.
    """

    data: List[Dict[str, Any]]
    columns: Optional[List[str]] = Field(
        default=None, description="The rows' columns; by default the keys of the first row. Give it for no rows."
    )

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        if not isinstance(self.data, list) or not all(isinstance(row, dict) for row in self.data):
            raise TypeError(f"Step {self.name!r}: data must be a list of dicts.")
        if self.columns is not None and (
            not isinstance(self.columns, list) or not all(isinstance(column, str) for column in self.columns)
        ):
            raise TypeError(f"Step {self.name!r}: columns must be None or a list of strings, got {self.columns!r}.")

    @property
    def outputs(self) -> List[str]:
        if self.columns is not None:
            return list(self.columns)
        return list(self.data[0]) if self.data else []

    @property
    def outputs_known(self) -> bool:
        return self.columns is not None or bool(self.data)

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        if offset >= len(self.data):
            yield [], True
            return
        for start in range(offset, len(self.data), self.batch_size):
            end = start + self.batch_size
            yield [dict(row) for row in self.data[start:end]], end >= len(self.data)
