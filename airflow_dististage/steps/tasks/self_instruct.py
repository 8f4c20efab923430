"""``SelfInstruct``: an LLM writes user queries for an AI application from a context, as in distilabel."""

from __future__ import annotations

from typing import Any, Dict, Optional

import jinja2

from airflow_dististage.llms.base import ChatType
from airflow_dististage.steps.tasks.base import Task
from airflow_dististage.steps.tasks.templates.self_instruct import SELF_INSTRUCT_TEMPLATE
from airflow_dististage.typing import StepColumns

__all__ = ["SelfInstruct"]

_TEMPLATE = jinja2.Template(SELF_INSTRUCT_TEMPLATE)


class SelfInstruct(Task):
    """Generates ``num_instructions`` user queries grounded in the row's ``input`` (Self-Instruct).

    Args:
        num_instructions: how many queries the prompt asks for (default 5).
        criteria_for_query_generation: the criteria listed in the prompt.
        application_description: the AI application the queries are for (default ``"AI assistant"``).

    Input columns: ``input`` (str), the context.
    Output columns: ``instructions`` (the non-empty lines of the answer; ``[]`` when the LLM failed),
    ``model_name``.
    """

    num_instructions: int = 5
    criteria_for_query_generation: str = (
        "Incorporate a diverse range of verbs, avoiding repetition.\n"
        "Ensure queries are compatible with AI model's text generation functions and are limited to 1-2 sentences.\n"
        "Design queries to be self-contained and standalone.\n"
        'Blend interrogative (e.g., "What is the significance of x?") and imperative (e.g., "Detail the process of'
        ' x.") styles.'
    )
    application_description: str = "AI assistant"

    @property
    def inputs(self) -> StepColumns:
        return ["input"]

    @property
    def outputs(self) -> StepColumns:
        return ["instructions", "model_name"]

    def format_input(self, input: Dict[str, Any]) -> ChatType:  # noqa: A002 - distilabel's name
        """One user message: the Self-Instruct prompt for the row's context."""
        content = _TEMPLATE.render(
            input=input["input"],
            application_description=self.application_description,
            criteria_for_query_generation=self.criteria_for_query_generation,
            num_instructions=self.num_instructions,
        )
        return [{"role": "user", "content": content}]

    def format_output(
        self, output: Optional[str], input: Optional[Dict[str, Any]] = None  # noqa: A002
    ) -> Dict[str, Any]:
        """The answer's non-empty lines."""
        if output is None:
            return {"instructions": []}
        return {"instructions": [line for line in output.split("\n") if line != ""]}
