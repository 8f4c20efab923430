"""``ConversationTemplate``: an instruction and its response as a two-message chat."""

from __future__ import annotations

from airflow_dististage.steps.base import Step, StepInput
from airflow_dististage.steps.column_checks import column_value
from airflow_dististage.steps.formatting.prompts import assistant
from airflow_dististage.typing import StepColumns, StepOutput


class ConversationTemplate(Step):
    """Adds ``conversation``: the ``instruction`` as the user message, the ``response`` as the assistant's.

    Input columns: ``instruction``, ``response``. Output columns: ``conversation``.
    """

    @property
    def inputs(self) -> StepColumns:
        return ["instruction", "response"]

    @property
    def outputs(self) -> StepColumns:
        return ["conversation"]

    def process(self, inputs: StepInput) -> StepOutput:
        """Yields the batch with a ``conversation`` in each row."""
        for row in inputs:
            row["conversation"] = [
                {"role": "user", "content": column_value(self.name, row, "instruction")},
                assistant(column_value(self.name, row, "response")),
            ]
        yield inputs
