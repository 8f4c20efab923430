"""``KeepColumns``: rows reduced to the given columns, in the given order."""

from __future__ import annotations

from typing import List

from airflow_dististage.steps.base import Step, StepInput
from airflow_dististage.steps.column_checks import column_names, column_value
from airflow_dististage.typing import StepColumns, StepOutput


class KeepColumns(Step):
    """Keeps only ``columns`` in each row, ordered as listed (the order the saved dataset shows).

    Args:
        columns: the columns to keep; every row must have them.

    Input columns: ``columns``. Output columns: ``columns``.
    """

    columns: List[str]

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        object.__setattr__(self, "columns", column_names(self.name, "columns", self.columns))

    @property
    def inputs(self) -> StepColumns:
        return list(self.columns)

    @property
    def outputs(self) -> StepColumns:
        return list(self.columns)

    def process(self, *inputs: StepInput) -> StepOutput:
        """Yields each predecessor's batch with only ``columns`` left in its rows."""
        for batch in inputs:
            yield [{column: column_value(self.name, row, column) for column in self.columns} for row in batch]
