"""Checks shared by the column and formatting steps: the column names their arguments give and
the columns each row must hold, with errors that name the step and the column."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from airflow_dististage.steps.base import ROW_ORIGIN_KEY


class MissingColumnError(KeyError):
    """A row lacks a column a step needs (a ``KeyError`` whose message reads as written)."""

    def __str__(self) -> str:
        return str(self.args[0])


def column_value(step_name: str | None, row: Mapping[str, Any], column: str) -> Any:
    """``row[column]``, or a :class:`MissingColumnError` naming the step, the column and the row's columns."""
    try:
        return row[column]
    except KeyError:
        present = sorted(key for key in row if key != ROW_ORIGIN_KEY)
        raise MissingColumnError(
            f"Step {step_name!r}: a row lacks column {column!r}; it has {present}."
        ) from None


def column_names(step_name: str | None, argument: str, value: Any) -> list[str]:
    """``value`` as a non-empty list of column names; a ``TypeError``/``ValueError`` naming the step otherwise."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(name, str) and name for name in value):
        raise TypeError(
            f"Step {step_name!r}: {argument} must be a list of column names (non-empty strings), got {value!r}."
        )
    if not value:
        raise ValueError(f"Step {step_name!r}: {argument} must name at least one column.")
    return list(value)


def list_value(step_name: str | None, column: str, value: Any, *, hint: str = "") -> list[Any]:
    """``value`` (a row's ``column``) as a list; a ``TypeError`` naming the step and the column otherwise."""
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(
        f"Step {step_name!r}: column {column!r} must hold a list, got {type(value).__name__} {value!r}.{hint}"
    )


def same_lengths(step_name: str | None, what: str, lengths: Sequence[int]) -> None:
    """Raises a ``ValueError`` naming the step when ``lengths`` (of ``what``) differ."""
    if len(set(lengths)) > 1:
        raise ValueError(f"Step {step_name!r}: {what} must have the same length, got lengths {list(lengths)}.")
