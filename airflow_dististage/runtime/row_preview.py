"""A page of a step's first output rows, for people to look at: bounded reads, shortened values.

Reads a step's parts in sequence order from part 0, each from the generation of the replica that
owns it, and stops as soon as the page is full: at most :data:`MAX_PREVIEW_PARTS` parts, so a
preview never scans a large output. Long values are cut to :data:`MAX_VALUE_CHARS` characters;
pickled values are never unpickled (that would run code chosen by whoever wrote the part) and
show as a placeholder. A running step's preview holds the parts committed so far.
"""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_dististage.runtime.encoding import decode_table, pickled_columns

if TYPE_CHECKING:
    from airflow_dististage.runtime.run_report import StepReport
    from airflow_dististage.runtime.store import StepData

MAX_PREVIEW_PARTS = 20
"""A preview covers at most this many parts from the first one."""
MAX_VALUE_CHARS = 200
MAX_PAGE_ROWS = 100
PICKLED_PLACEHOLDER = "<pickled value: not shown>"


@dataclass(frozen=True)
class RowsPage:
    """Rows ``offset .. offset + len(rows) - 1`` of a step's output, each a list of shortened cells.

    ``has_more``: rows after this page may be shown; ``limited``: the page stopped at the last part
    a preview reads (:data:`MAX_PREVIEW_PARTS`), later rows exist only in the full output.
    """

    step: str
    offset: int
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    has_more: bool = False
    limited: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "offset": self.offset,
            "columns": self.columns,
            "rows": self.rows,
            "has_more": self.has_more,
            "limited": self.limited,
        }


def preview_rows(data: StepData, report: StepReport, offset: int = 0, limit: int = 10) -> RowsPage:
    """Up to ``limit`` rows of ``data``'s step from row ``offset`` on (see the module docstring);
    ``report`` (:func:`~airflow_dististage.runtime.run_report.step_report`) names the generations.

    Raises:
        ValueError: ``offset`` is negative or ``limit`` outside ``1 .. MAX_PAGE_ROWS``.
    """
    if not isinstance(offset, int) or offset < 0:
        raise ValueError(f"Step {data.name!r}: preview offset must be an integer >= 0, got {offset!r}.")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_ROWS:
        raise ValueError(f"Step {data.name!r}: preview limit must be 1 .. {MAX_PAGE_ROWS}, got {limit!r}.")
    generations, parts = report.generations, report.parts
    columns: dict[str, None] = {}
    rows: list[dict[str, Any]] = []
    skipped = 0
    sequence = 0
    while sequence < MAX_PREVIEW_PARTS and (parts is None or sequence < parts) and len(rows) <= limit:
        generation = generations[sequence % len(generations)]
        raw = data.read_part_bytes(generation, sequence) if generation is not None else None
        if raw is None:
            break  # not committed yet (a running step), or a leftover count
        table = decode_table(raw, allow_pickle=True)  # checked below: pickled values stay bytes
        start = max(0, offset - skipped)
        skipped += table.num_rows
        sequence += 1
        if start >= table.num_rows:
            continue
        rows.extend(_shown_rows(table.slice(start, limit + 1 - len(rows))))
        columns.update(dict.fromkeys(table.column_names))
    more_parts = parts is None or sequence < parts
    return RowsPage(
        step=data.name,
        offset=offset,
        columns=list(columns),
        rows=[[row.get(column) for column in columns] for row in rows[:limit]],
        has_more=len(rows) > limit or (more_parts and sequence < MAX_PREVIEW_PARTS),
        limited=len(rows) <= limit and more_parts and sequence >= MAX_PREVIEW_PARTS,
    )


def _shown_rows(table: Any) -> list[dict[str, Any]]:
    pickled = set(pickled_columns(table.schema))
    names = table.column_names
    columns = [
        [PICKLED_PLACEHOLDER] * table.num_rows
        if name in pickled
        else [shorten(value) for value in table.column(name).to_pylist()]
        for name in names
    ]
    return [dict(zip(names, values)) for values in zip(*columns)]


def shorten(value: Any) -> Any:
    """``value`` as JSON-ready data for a table cell: numbers, booleans and None as they are,
    text cut to :data:`MAX_VALUE_CHARS` (lists and dicts as JSON text), bytes as their length,
    NaN and infinities as text (JSON has none)."""
    if value is None or isinstance(value, (bool, int)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        text = value
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False, default=_plain)
    else:
        text = _plain(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _plain(value: Any) -> str:
    """Text for a value JSON has no form of (dates, decimals, bytes inside lists, NaN)."""
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)
