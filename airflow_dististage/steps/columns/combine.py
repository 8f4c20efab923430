"""``CombineOutputs``: the rows of several predecessors joined column by column."""

from __future__ import annotations

from airflow_dististage.steps.base import Step, StepInput
from airflow_dististage.steps.columns.utils import aligned_rows, combine_rows
from airflow_dististage.typing import StepOutput


class CombineOutputs(Step):
    """Joins row i of each predecessor into one row with every column of them.

    A column several predecessors have takes the value of the last one (in the order they were
    connected); ``distilabel_metadata`` is merged. Rows past the shortest predecessor batch are
    dropped (with a warning), as distilabel drops them. ``[step_1, step_2, step_3] >> CombineOutputs()``.

    Input and output columns: those of the predecessors.
    """

    def process(self, *inputs: StepInput) -> StepOutput:
        """Yields one batch: row i of every predecessor's batch joined into one row."""
        yield [combine_rows(rows) for rows in aligned_rows(self, inputs)]
