"""Rows <-> Arrow IPC bytes, exact for any Python values.

A column whose non-null values all share one plain type (str, int, float, bool, bytes) is stored
as a native Arrow column. Any other column (mixed types, lists, dicts, objects) is stored as
pickled values, and a batch whose rows do not all have the same keys is pickled whole, so that
reading a part always gives back exactly the rows that were written. The store only holds data
written by the pipeline's own steps, which is what makes pickle acceptable here.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import pyarrow as pa

_NATIVE_TYPES = frozenset({str, int, float, bool, bytes})
_PICKLED_COLUMNS_KEY = b"dististage.pickled_columns"
_PICKLED_ROWS_KEY = b"dististage.pickled_rows"
_ROWS_COLUMN = "rows"


def _column_array(values: list[Any]) -> pa.Array | None:
    """A native Arrow array holding ``values`` exactly, or None when they need pickling."""
    value_types = {type(value) for value in values if value is not None}
    if len(value_types) > 1 or not value_types <= _NATIVE_TYPES:
        return None
    try:
        return pa.array(values)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return None


def _has_uniform_string_keys(rows: list[dict[str, Any]]) -> bool:
    keys = rows[0].keys()
    return bool(keys) and all(isinstance(key, str) for key in keys) and all(row.keys() == keys for row in rows)


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """An Arrow table that :func:`table_to_rows` turns back into exactly ``rows``."""
    if not rows:
        return pa.table({})
    if not _has_uniform_string_keys(rows):
        column = pa.array([pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)], pa.binary())
        return pa.table({_ROWS_COLUMN: column}).replace_schema_metadata({_PICKLED_ROWS_KEY: b"1"})
    arrays: dict[str, pa.Array] = {}
    pickled: list[str] = []
    for name in rows[0]:
        values = [row[name] for row in rows]
        array = _column_array(values)
        if array is None:
            array = pa.array([pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL) for v in values], pa.binary())
            pickled.append(name)
        arrays[name] = array
    table = pa.table(arrays)
    if pickled:
        table = table.replace_schema_metadata({_PICKLED_COLUMNS_KEY: json.dumps(pickled).encode()})
    return table


def has_pickled_values(table: pa.Table) -> bool:
    """Whether some of ``table``'s values are pickled (it then needs :func:`table_to_rows`)."""
    metadata = table.schema.metadata or {}
    return _PICKLED_ROWS_KEY in metadata or _PICKLED_COLUMNS_KEY in metadata


def table_to_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows :func:`rows_to_table` was given."""
    metadata = table.schema.metadata or {}
    if _PICKLED_ROWS_KEY in metadata:
        return pickle.loads(table.column(_ROWS_COLUMN)[0].as_py())
    if table.num_columns == 0:
        return []
    pickled = set(json.loads(metadata.get(_PICKLED_COLUMNS_KEY, b"[]")))
    names = table.column_names
    columns = [
        [pickle.loads(value) for value in table.column(name).to_pylist()]
        if name in pickled
        else table.column(name).to_pylist()
        for name in names
    ]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def encode_rows(rows: list[dict[str, Any]]) -> bytes:
    """``rows`` as Arrow IPC file bytes."""
    table = rows_to_table(rows)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode_table(data: bytes) -> pa.Table:
    """The Arrow table held in Arrow IPC file bytes."""
    return pa.ipc.open_file(pa.py_buffer(data)).read_all()


def decode_rows(data: bytes) -> list[dict[str, Any]]:
    """The rows :func:`encode_rows` encoded."""
    return table_to_rows(decode_table(data))


def preload_converters() -> None:
    """Makes pyarrow finish its lazy imports (pandas, when installed) now.

    pyarrow imports pandas on its first conversion of a Python list, which costs about half a
    second; a runner that forks step processes calls this once so no step pays it again.
    """
    pa.array([0])
