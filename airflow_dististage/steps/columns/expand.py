"""``ExpandColumns``: list columns spread over one row per item."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Union

from airflow_dististage.constants import DISTILABEL_METADATA_KEY
from airflow_dististage.steps.base import Step, StepInput
from airflow_dististage.steps.column_checks import column_names, column_value, list_value, same_lengths
from airflow_dististage.typing import StepColumns, StepOutput

Row = Dict[str, Any]


class ExpandColumns(Step):
    """Turns a row whose ``columns`` hold lists of n items into n rows, row i holding item i of each.

    The other columns are repeated on every new row; a row whose lists are empty yields no row.
    The lists of one row must all have the same length.

    Args:
        columns: the columns to expand, or a mapping column -> the column the item goes to (the
            original column, still holding the whole list, stays then).
        encoded: whether the columns hold JSON-encoded lists (decoded before expanding); or the
            list of the columns that do, a subset of ``columns``.
        split_statistics: divide the token counts of each ``statistics_*`` entry of
            ``distilabel_metadata`` by n (rounding down) on every new row, so that summing them over
            the new rows does not count a generation's tokens n times.

    Input columns: the expanded columns. Output columns: the columns the items go to.
    """

    columns: Union[Dict[str, str], List[str]]
    encoded: Union[bool, List[str]] = False
    split_statistics: bool = False

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        object.__setattr__(self, "columns", self._column_targets())
        if isinstance(self.encoded, bool):
            encoded = list(self.columns) if self.encoded else []
        elif isinstance(self.encoded, (list, tuple)) and not self.encoded:
            encoded = []
        else:
            encoded = column_names(self.name, "encoded", self.encoded)
            unknown = [column for column in encoded if column not in self.columns]
            if unknown:
                raise ValueError(
                    f"Step {self.name!r}: encoded names {unknown}, which are not columns to expand"
                    f" {list(self.columns)}; the encoded columns must be a subset of columns."
                )
        object.__setattr__(self, "encoded", encoded)
        if not isinstance(self.split_statistics, bool):
            raise TypeError(f"Step {self.name!r}: split_statistics must be a bool, got {self.split_statistics!r}.")

    def _column_targets(self) -> Dict[str, str]:
        """``columns`` as column -> the column its items go to (itself for a list or an empty name)."""
        if not isinstance(self.columns, dict):
            return {column: column for column in column_names(self.name, "columns", self.columns)}
        column_names(self.name, "columns", list(self.columns))
        if not all(isinstance(target, str) for target in self.columns.values()):
            raise TypeError(
                f"Step {self.name!r}: columns must map each column to the column its items go to,"
                f" got {self.columns!r}."
            )
        return {column: target or column for column, target in self.columns.items()}

    @property
    def inputs(self) -> StepColumns:
        return list(self.columns)

    @property
    def outputs(self) -> StepColumns:
        return list(self.columns.values())

    def process(self, inputs: StepInput) -> StepOutput:
        """Yields the expanded rows of the batch, in order."""
        yield [expanded for row in inputs for expanded in self._expand(row)]

    def _expand(self, row: Row) -> List[Row]:
        lists = {column: self._items(row, column) for column in self.columns}
        same_lengths(
            self.name, f"the lists of columns {list(lists)} in one row", [len(items) for items in lists.values()]
        )
        count = len(next(iter(lists.values())))
        base = {**row, **{column: lists[column] for column in self.encoded}}
        if self.split_statistics and isinstance(row.get(DISTILABEL_METADATA_KEY), dict) and count:
            base[DISTILABEL_METADATA_KEY] = _split_statistics(row[DISTILABEL_METADATA_KEY], count)
        return [
            {**base, **{target: lists[column][index] for column, target in self.columns.items()}}
            for index in range(count)
        ]

    def _items(self, row: Row, column: str) -> List[Any]:
        value = column_value(self.name, row, column)
        if column in self.encoded:
            try:
                value = json.loads(value)
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"Step {self.name!r}: column {column!r} is not a JSON-encoded list ({error}): {value!r}."
                ) from None
        hint = " Set encoded=True if it holds JSON-encoded lists." if isinstance(value, str) else ""
        return list_value(self.name, column, value, hint=hint)


def _split_statistics(metadata: Dict[str, Any], count: int) -> Dict[str, Any]:
    """``metadata`` with the token counts of each ``statistics_*`` entry divided by ``count``, as lists."""
    split = dict(metadata)
    for key, statistics in metadata.items():
        if (
            key.startswith("statistics_")
            and isinstance(statistics, dict)
            and "input_tokens" in statistics
            and "output_tokens" in statistics
        ):
            split[key] = {
                "input_tokens": _divided(statistics["input_tokens"], count),
                "output_tokens": _divided(statistics["output_tokens"], count),
            }
    return split


def _divided(tokens: Any, count: int) -> List[Any]:
    values = tokens if isinstance(tokens, list) else [tokens]
    return [value // count if isinstance(value, int) else value for value in values]
