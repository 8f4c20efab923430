"""The ``@task`` decorator: a formatting function whose docstring holds the prompts becomes a ``Task`` class.

The docstring carries a YAML block between ``---`` lines with ``system_prompt`` and
``user_message_template``; both are ``str.format`` templates over the row's columns::

    @task(inputs=["text"], outputs=["summary"])
    def Summarise(output: str | None, input: dict | None = None) -> dict:
        '''Summarises a text.

        ---
        system_prompt: You summarise texts.
        user_message_template: Summarise this in one line - {text}
        ---
        '''
        return {"summary": output}
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Callable, Dict, Optional, Tuple, Type

import yaml

from airflow_dististage.llms.base import ChatType
from airflow_dististage.steps.base import _source_of
from airflow_dististage.steps.tasks.base import Task
from airflow_dististage.typing import StepColumns

__all__ = ["task"]

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_FORMAT_ERROR = (
    "The formatting function decorated with `task` needs a docstring with a YAML block between `---` lines"
    " holding `system_prompt` and `user_message_template`."
)


def task(
    inputs: Optional[StepColumns] = None, outputs: Optional[StepColumns] = None
) -> Callable[[Callable[..., Dict[str, Any]]], Type[Task]]:
    """Turns a formatting function ``(output, input) -> dict`` into a ``Task`` class named after it.

    Args:
        inputs: the columns the task reads (a list, or a dict of column -> required); the
            prompts may use only these as ``{placeholders}``.
        outputs: the columns the function returns (a list, or a dict of column -> produced).

    Raises:
        ValueError: the function has no docstring, its YAML block is missing or malformed, lacks a
            key, or a prompt uses a placeholder that is not an input column.
    """
    declared_inputs: StepColumns = inputs or []
    declared_outputs: StepColumns = outputs or []

    def decorator(func: Callable[..., Dict[str, Any]]) -> Type[Task]:
        doc = inspect.getdoc(func)
        if doc is None:
            raise ValueError(f"@task function {func.__name__!r} has no docstring. {_FORMAT_ERROR}")
        system_prompt, user_message_template = _parse_docstring(func.__name__, doc)
        allowed = set(declared_inputs)
        for key, template in (("system_prompt", system_prompt), ("user_message_template", user_message_template)):
            unknown = set(_PLACEHOLDER.findall(template)) - allowed
            if unknown:
                raise ValueError(
                    f"@task function {func.__name__!r}: its {key} uses the placeholders {sorted(unknown)},"
                    f" which are not among the inputs {sorted(allowed)}."
                )

        def format_input(self: Task, input: Dict[str, Any]) -> ChatType:  # noqa: A002 - distilabel's name
            return [
                {"role": "system", "content": system_prompt.format(**input)},
                {"role": "user", "content": user_message_template.format(**input)},
            ]

        def format_output(
            self: Task, output: Optional[str], input: Optional[Dict[str, Any]] = None  # noqa: A002
        ) -> Dict[str, Any]:
            return func(output, input)

        return type(
            func.__name__,
            (Task,),
            {
                "__module__": func.__module__,
                "__qualname__": func.__qualname__,
                "__doc__": func.__doc__,
                "inputs": property(lambda self: declared_inputs),
                "outputs": property(lambda self: declared_outputs),
                "format_input": format_input,
                "format_output": format_output,
                "_extra_fingerprint": lambda self: {"function": _source_of(func)},
            },
        )

    return decorator


def _parse_docstring(name: str, doc: str) -> Tuple[str, str]:
    """``(system_prompt, user_message_template)`` from the YAML block of a ``@task`` docstring, stripped."""
    parts = doc.split("---")
    if len(parts) != 3:
        raise ValueError(f"@task function {name!r}: {_FORMAT_ERROR}")
    try:
        block = yaml.safe_load(parts[1])
    except yaml.YAMLError as error:
        raise ValueError(f"@task function {name!r}: its YAML block does not parse ({error}). {_FORMAT_ERROR}") from None
    if not isinstance(block, dict):
        raise ValueError(f"@task function {name!r}: {_FORMAT_ERROR}")
    system_prompt, user_message_template = block.get("system_prompt"), block.get("user_message_template")
    if system_prompt is None or user_message_template is None:
        raise ValueError(
            f"@task function {name!r}: its docstring must hold both `system_prompt` and `user_message_template`."
        )
    return str(system_prompt).strip(), str(user_message_template).strip()
