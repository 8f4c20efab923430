"""``TextGeneration`` (a Jinja2 prompt from row columns) and ``ChatGeneration`` (a ``messages`` column)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

import jinja2
import jinja2.meta

from airflow_dististage.llms.base import ChatType
from airflow_dististage.llms.chat import chat_problem
from airflow_dististage.mixins.runtime_parameters import Field
from airflow_dististage.steps.tasks.base import Task
from airflow_dististage.typing import StepColumns

_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - prompts, not HTML


class TextGeneration(Task):
    """Generates text for a prompt rendered from row columns with a Jinja2 template.

    Args:
        template: the prompt, e.g. ``"Summarise: {{ document }}"``; it uses every column in ``columns``.
        columns: the column (or columns) the template reads.
        system_prompt: a system message; a row's own ``system_prompt`` column wins over it.

    Input columns: ``columns`` (``instruction`` by default), optional ``system_prompt``.
    Output columns: ``generation``, ``model_name`` (and ``distilabel_metadata``).
    """

    system_prompt: Optional[str] = None
    template: str = Field(default="{{ instruction }}", description="The Jinja2 prompt template.")
    columns: Union[str, List[str]] = Field(default="instruction", description="The columns the template reads.")

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        columns = [self.columns] if isinstance(self.columns, str) else self.columns
        if not isinstance(columns, (list, tuple)) or not columns or not all(isinstance(c, str) and c for c in columns):
            raise ValueError(
                f"Step {self.name!r}: columns must be a column name or a non-empty list of names,"
                f" got {self.columns!r}."
            )
        object.__setattr__(self, "columns", list(columns))
        self._template = _compile_template(self.name, self.template, self.columns)

    @property
    def inputs(self) -> StepColumns:
        return {**{column: True for column in self.columns}, "system_prompt": False}

    @property
    def outputs(self) -> StepColumns:
        return ["generation", "model_name"]

    def format_input(self, input: Dict[str, Any]) -> ChatType:  # noqa: A002 - distilabel's name
        """A user message rendered from the row (after a system message, if any)."""
        missing = [column for column in self.columns if column not in input]
        if missing:
            raise KeyError(f"Step {self.name!r}: a row lacks column(s) {missing}; it has {sorted(input)}.")
        if self.columns == ["instruction"] and not isinstance(input["instruction"], str):
            raise TypeError(
                f"Step {self.name!r}: column 'instruction' must hold a string, got {input['instruction']!r}."
                " Use ChatGeneration for rows that hold a conversation."
            )
        messages = [{"role": "user", "content": self._template.render({c: input[c] for c in self.columns})}]
        system_prompt = input.get("system_prompt") or self.system_prompt
        if system_prompt:
            messages.insert(0, {"role": "system", "content": system_prompt})
        return messages

    def format_output(
        self, output: Optional[str], input: Optional[Dict[str, Any]] = None  # noqa: A002
    ) -> Dict[str, Any]:
        return {"generation": output}


class ChatGeneration(Task):
    """Generates the next assistant message of the conversation in the ``messages`` column.

    Input columns: ``messages`` (a list of role/content dicts, ending with a user message).
    Output columns: ``generation``, ``model_name`` (and ``distilabel_metadata``).
    """

    @property
    def inputs(self) -> StepColumns:
        return ["messages"]

    @property
    def outputs(self) -> StepColumns:
        return ["generation", "model_name"]

    def format_input(self, input: Dict[str, Any]) -> ChatType:  # noqa: A002 - distilabel's name
        """The row's conversation, checked."""
        messages = input.get("messages")
        problem = chat_problem(messages)
        if problem is None and messages[-1]["role"] != "user":
            problem = f"the last message must be from the user, got role {messages[-1]['role']!r}"
        if problem is not None:
            raise ValueError(f"Step {self.name!r}: column 'messages' is not a chat: {problem}.")
        return messages

    def format_output(
        self, output: Optional[str], input: Optional[Dict[str, Any]] = None  # noqa: A002
    ) -> Dict[str, Any]:
        return {"generation": output}


def _compile_template(step_name: str, template: str, columns: List[str]) -> jinja2.Template:
    """The compiled template; it must read exactly the given columns (no more, no fewer)."""
    if not isinstance(template, str):
        raise TypeError(f"Step {step_name!r}: template must be a Jinja2 string, got {template!r}.")
    try:
        variables = jinja2.meta.find_undeclared_variables(_JINJA.parse(template))
    except jinja2.TemplateSyntaxError as error:
        raise ValueError(
            f"Step {step_name!r}: the template is not valid Jinja2 (line {error.lineno}: {error.message})."
        ) from None
    unknown = sorted(variables - set(columns))
    if unknown:
        raise ValueError(
            f"Step {step_name!r}: the template uses {unknown}, which columns={columns} does not list."
            f" Add them to columns (they are read from the rows)."
        )
    unused = [column for column in columns if column not in variables]
    if unused:
        raise ValueError(f"Step {step_name!r}: columns {unused} are not used by the template {template!r}.")
    return _JINJA.from_string(template)
