"""``MergeColumns``: several columns of a row flattened into one list column."""

from __future__ import annotations

from typing import List, Optional

from airflow_dististage.steps.base import Step, StepInput
from airflow_dististage.steps.column_checks import column_names, column_value
from airflow_dististage.typing import StepColumns, StepOutput


class MergeColumns(Step):
    """Replaces ``columns`` by one list column: list values are spliced in, any other value appended.

    E.g. ``{"queries": "How are you?", "multiple_queries": ["What's up?", "Everything ok?"]}`` with
    ``columns=["queries", "multiple_queries"], output_column="queries"`` becomes
    ``{"queries": ["How are you?", "What's up?", "Everything ok?"]}``.

    Args:
        columns: the columns to merge, in order; they are removed from the row.
        output_column: the merged column; ``merged_column`` by default.

    Input columns: ``columns``. Output columns: ``output_column`` (``merged_column`` by default).
    """

    columns: List[str]
    output_column: Optional[str] = None

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        object.__setattr__(self, "columns", column_names(self.name, "columns", self.columns))
        if self.output_column is not None and not isinstance(self.output_column, str):
            raise TypeError(
                f"Step {self.name!r}: output_column must be a column name or None, got {self.output_column!r}."
            )

    @property
    def inputs(self) -> StepColumns:
        return list(self.columns)

    @property
    def outputs(self) -> StepColumns:
        return [self.output_column or "merged_column"]

    def process(self, inputs: StepInput) -> StepOutput:
        """Yields the batch with ``columns`` of each row merged into the output column."""
        (output_column,) = self.outputs
        merged_rows = []
        for row in inputs:
            merged = []
            for column in self.columns:
                value = column_value(self.name, row, column)
                merged.extend(value if isinstance(value, list) else [value])
            kept = {key: value for key, value in row.items() if key not in self.columns}
            merged_rows.append({**kept, output_column: merged})
        yield merged_rows
