"""What the formatting steps share: the prompt of a row, its conversation so far, and its ``prompt_id``."""

from __future__ import annotations

import hashlib
from typing import Any, Dict, Mapping, Optional, Tuple

from airflow_dististage.steps.base import Step, StepInput
from airflow_dististage.steps.column_checks import column_value, list_value
from airflow_dististage.typing import ChatType, StepOutput


class FormattingStep(Step):
    """A step that gives each row its ``prompt``, the ``prompt_id`` of it, and the columns
    :meth:`_formatted` builds from the row's conversation so far (see :meth:`_prompt`)."""

    def _prompt(self, row: Dict[str, Any]) -> Tuple[str, ChatType]:
        """The row's prompt and the conversation that asks it."""
        raise NotImplementedError

    def _formatted(self, row: Dict[str, Any], conversation: ChatType) -> Dict[str, Any]:
        """The columns this format adds besides ``prompt`` and ``prompt_id``."""
        raise NotImplementedError

    def process(self, *inputs: StepInput) -> StepOutput:
        """Yields each predecessor's batch with the formatted columns in each row."""
        for batch in inputs:
            for row in batch:
                prompt, conversation = self._prompt(row)
                row.update(prompt=prompt, prompt_id=prompt_id(prompt), **self._formatted(row, conversation))
            yield batch


def prompt_id(prompt: str) -> str:
    """The SHA-256 hex digest of the UTF-8 ``prompt``, as distilabel computes ``prompt_id``."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def instruction_prompt(step_name: Optional[str], row: Mapping[str, Any]) -> Tuple[str, ChatType]:
    """The ``instruction`` and the conversation asking it: a user message, after the row's
    ``system_prompt`` as a system message when that is a non-empty string."""
    instruction = column_value(step_name, row, "instruction")
    if not isinstance(instruction, str):
        raise TypeError(
            f"Step {step_name!r}: column 'instruction' must hold a string, got {type(instruction).__name__}"
            f" {instruction!r}."
        )
    conversation = [{"role": "user", "content": instruction}]
    system_prompt = row.get("system_prompt")
    if isinstance(system_prompt, str) and system_prompt:
        conversation.insert(0, {"role": "system", "content": system_prompt})
    return instruction, conversation


def conversation_prompt(step_name: Optional[str], row: Mapping[str, Any]) -> Tuple[str, ChatType]:
    """The content of the first user message of the row's ``messages``, and those messages."""
    messages = list_value(step_name, "messages", column_value(step_name, row, "messages"))
    if not all(isinstance(message, Mapping) for message in messages):
        raise TypeError(f"Step {step_name!r}: column 'messages' must hold role/content dicts, got {messages!r}.")
    prompt = next((message.get("content") for message in messages if message.get("role") == "user"), None)
    if not isinstance(prompt, str):
        raise ValueError(
            f"Step {step_name!r}: column 'messages' has no user message with text content (its first user"
            f" message is the prompt): {messages!r}."
        )
    return prompt, messages


def assistant(content: Any) -> dict[str, Any]:
    """An assistant message."""
    return {"role": "assistant", "content": content}
