"""``GroupColumns``: the rows of several predecessors joined, chosen columns gathered into lists."""

from __future__ import annotations

import warnings
from typing import Any, List, Optional

from airflow_dististage.steps.base import Step, StepInput
from airflow_dististage.steps.column_checks import column_names
from airflow_dististage.steps.columns.utils import aligned_rows, combine_rows
from airflow_dististage.typing import StepColumns, StepOutput


class GroupColumns(Step):
    """Joins row i of each predecessor into one row; each of ``columns`` becomes the list of its values.

    Typical use: several generation steps feed one step that needs ``generations`` and
    ``generation_models`` lists. Other columns take the value of the last predecessor that has
    them; ``distilabel_metadata`` is merged. Rows past the shortest predecessor batch are dropped
    (with a warning), as distilabel drops them.

    Args:
        columns: the columns to gather into lists.
        output_columns: their names in the output, one per column; by default ``grouped_<column>``.

    Input columns: ``columns``. Output columns: ``output_columns`` (``grouped_<column>`` by default).
    """

    columns: List[str]
    output_columns: Optional[List[str]] = None

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        object.__setattr__(self, "columns", column_names(self.name, "columns", self.columns))
        if self.output_columns is not None:
            outputs = column_names(self.name, "output_columns", self.output_columns)
            if len(outputs) != len(self.columns):
                raise ValueError(
                    f"Step {self.name!r}: output_columns {outputs} must name one column per column of"
                    f" columns {self.columns}."
                )
            object.__setattr__(self, "output_columns", outputs)

    @property
    def inputs(self) -> StepColumns:
        return list(self.columns)

    @property
    def outputs(self) -> StepColumns:
        if self.output_columns is not None:
            return list(self.output_columns)
        return [f"grouped_{column}" for column in self.columns]

    def process(self, *inputs: StepInput) -> StepOutput:
        """Yields one batch: row i of every predecessor's batch joined into one row."""
        grouped = dict(zip(self.columns, self.outputs))
        yield [combine_rows(rows, grouped) for rows in aligned_rows(self, inputs)]


class CombineColumns(GroupColumns):
    """Deprecated name of :class:`GroupColumns` (distilabel removed it in 1.5.0); warns when created."""

    def __init__(self, **kwargs: Any) -> None:
        warnings.warn(
            "`CombineColumns` is deprecated and will be removed, use `GroupColumns` instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(**kwargs)
