"""``FormatTextGenerationSFT`` and ``FormatChatGenerationSFT``: rows as ``prompt``/``prompt_id``/``messages``
for supervised fine-tuning (the layout of ``HuggingFaceH4/ultrachat_200k``)."""

from __future__ import annotations

from typing import Any, Dict, Tuple

from airflow_dististage.steps.column_checks import column_value
from airflow_dististage.steps.formatting.prompts import (
    FormattingStep,
    assistant,
    conversation_prompt,
    instruction_prompt,
)
from airflow_dististage.typing import ChatType, StepColumns


class _FormatSFT(FormattingStep):
    """Adds ``prompt``, its ``prompt_id`` and ``messages``: the conversation so far, then the ``generation``."""

    @property
    def outputs(self) -> StepColumns:
        return ["prompt", "prompt_id", "messages"]

    def _formatted(self, row: Dict[str, Any], conversation: ChatType) -> Dict[str, Any]:
        return {"messages": [*conversation, assistant(column_value(self.name, row, "generation"))]}


class FormatTextGenerationSFT(_FormatSFT):
    """Formats ``TextGeneration`` output for SFT: ``messages`` is the optional system prompt, the
    ``instruction`` as the user message and the ``generation`` as the assistant's.

    Input columns: ``instruction``, ``generation``, optional ``system_prompt`` (used when a non-empty string).
    Output columns: ``prompt`` (the instruction), ``prompt_id`` (its SHA-256), ``messages``.
    """

    @property
    def inputs(self) -> StepColumns:
        return {"system_prompt": False, "instruction": True, "generation": True}

    def _prompt(self, row: Dict[str, Any]) -> Tuple[str, ChatType]:
        return instruction_prompt(self.name, row)


class FormatChatGenerationSFT(_FormatSFT):
    """Formats ``ChatGeneration`` output for SFT: ``messages`` gets the ``generation`` as its last message.

    Input columns: ``messages``, ``generation``.
    Output columns: ``prompt`` (the first user message), ``prompt_id`` (its SHA-256), ``messages``.
    """

    @property
    def inputs(self) -> StepColumns:
        return ["messages", "generation"]

    def _prompt(self, row: Dict[str, Any]) -> Tuple[str, ChatType]:
        return conversation_prompt(self.name, row)
