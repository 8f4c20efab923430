"""Chats: checking their shape and rendering them into a model's prompt."""

from __future__ import annotations

from typing import Any

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
"""The ChatML template, used when neither the user nor the tokenizer gives one."""

_ROLES = ("system", "user", "assistant", "tool")


def chat_problem(messages: Any) -> str | None:
    """Why ``messages`` is not a chat (a non-empty list of role/content dicts), or ``None``."""
    if not isinstance(messages, list) or not messages:
        return f"expected a non-empty list of {{'role', 'content'}} messages, got {messages!r}"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            return f"message {index} needs a string 'content', got {message!r}"
        if message.get("role") not in _ROLES:
            return f"message {index} has role {message.get('role')!r}; roles are {list(_ROLES)}"
    return None


def render_chat(tokenizer: Any, messages: list[dict[str, str]], chat_template: str | None = None) -> str:
    """The prompt text for ``messages``: the given template, else the tokenizer's, else ChatML."""
    template = chat_template or getattr(tokenizer, "chat_template", None) or CHATML_TEMPLATE
    return tokenizer.apply_chat_template(
        messages, chat_template=template, tokenize=False, add_generation_prompt=True
    )
