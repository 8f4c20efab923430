"""Rows <-> Arrow IPC bytes; a part holds Arrow-encodable values only, unless pickling is opted into.

Anyone who can write to the batch store could plant a part in it, so by default a part holds
nothing that reading it would execute: values are encoded by Arrow or refused.

Round-trip rules (``decode_rows(encode_rows(rows)) == rows`` whenever none of them applies):

- A batch's columns are the union of its rows' keys, in first-seen order; a row without a key reads
  it back as None (as ``datasets`` does). Column names must be ``str``.
- A column holds one Arrow type: None, bool, int (within int64), float, str, bytes, date, time,
  datetime, timedelta, Decimal, lists (a tuple reads back as a list) and dicts (a struct whose
  fields are the keys of every dict of the column: a dict without one reads it back as None;
  bytes keys read back as str), nested at any depth.
- A column mixing ints and floats is a float column: its ints read back as floats. Top-level
  values of any other two kinds (str and int, bool and int, str and bytes, list and dict) are
  refused. Inside lists and dicts Arrow's own conversion applies: ints and bools mixed with
  floats become floats, str mixed with bytes become bytes.
- Anything else (an object of a type Arrow does not know, an int beyond int64, a list mixing str
  and int) raises :class:`UnencodableColumnError` naming the column and the Python types.

With ``allow_pickle=True`` a column Arrow cannot hold is stored as pickled values instead (listed
in the schema metadata) and reads back exactly. Reading a part that holds pickled values needs
``allow_pickle=True`` as well, because unpickling runs whatever code the part's writer chose:
without it, reading raises :class:`PickledValuesError` before unpickling anything.
"""

from __future__ import annotations

import json
import pickle
from itertools import chain
from typing import Any

import pyarrow as pa

_PICKLED_COLUMNS_KEY = b"dististage.pickled_columns"


class PartEncodingError(ValueError):
    """A batch cannot be stored as a part; ``column`` names the column at fault."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


class UnencodableColumnError(PartEncodingError):
    """A column holds values Arrow cannot encode as one type; ``reason`` names the Python types."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(column, f"Column {column!r} cannot be stored in a part: {reason}.")
        self.reason = reason


class PickledValuesError(ValueError):
    """A part holds pickled values and the reader did not pass ``allow_pickle=True``."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        super().__init__(
            f"This part holds pickled values (columns {list(columns)}); unpickling them would run any code"
            " that whoever wrote the part chose. Read it with allow_pickle=True only if the pipeline opted"
            " into pickled values and you trust every writer of the store."
        )
        self.columns = columns


def _kind(value_type: type) -> type:
    """The group of Python types that Arrow converts alike."""
    for kind in (bool, int, float, str, bytes, dict):
        if issubclass(value_type, kind):
            return kind
    return list if issubclass(value_type, (list, tuple)) else value_type


def _type_names(types: set[type]) -> str:
    return " and ".join(sorted(value_type.__qualname__ for value_type in types))


def _native_array(name: str, values: list[Any]) -> pa.Array:
    """``values`` as one Arrow array, or :class:`UnencodableColumnError`."""
    types = set(map(type, values)) - {type(None)}
    kinds = {_kind(value_type) for value_type in types}
    if len(kinds) > 1 and kinds != {int, float}:
        raise UnencodableColumnError(name, f"it mixes values of Python types {_type_names(types)}")
    try:
        return pa.array(values)
    except OverflowError:
        raise UnencodableColumnError(name, "it holds an int beyond the int64 range") from None
    except (pa.ArrowException, TypeError, ValueError) as error:
        raise UnencodableColumnError(
            name, f"Arrow cannot encode its values of Python type {_type_names(types)} ({error})"
        ) from None


def rows_to_table(rows: list[dict[str, Any]], *, allow_pickle: bool = False) -> pa.Table:
    """An Arrow table of ``rows`` under the module's round-trip rules.

    Raises:
        UnencodableColumnError: a column name is not a str, or (without ``allow_pickle``) a column's
            values cannot be encoded by Arrow.
    """
    names = list(dict.fromkeys(chain.from_iterable(rows)))
    for name in names:
        if not isinstance(name, str):
            raise UnencodableColumnError(repr(name), f"column names must be str, not {type(name).__qualname__}")
    if not names:
        return pa.Table.from_struct_array(pa.array([{}] * len(rows), pa.struct([])))
    arrays: list[pa.Array] = []
    pickled: list[str] = []
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            arrays.append(_native_array(name, values))
        except UnencodableColumnError:
            if not allow_pickle:
                raise
            arrays.append(pa.array([pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL) for v in values], pa.binary()))
            pickled.append(name)
    metadata = {_PICKLED_COLUMNS_KEY: json.dumps(pickled).encode()} if pickled else None
    return pa.Table.from_arrays(arrays, names=names, metadata=metadata)


def pickled_columns(schema: pa.Schema) -> tuple[str, ...]:
    """Names of the columns of ``schema`` that hold pickled values."""
    listed = (schema.metadata or {}).get(_PICKLED_COLUMNS_KEY)
    return () if listed is None else tuple(json.loads(listed))


def has_pickled_values(table: pa.Table) -> bool:
    """Whether some of ``table``'s values are pickled (it then needs :func:`table_to_rows`)."""
    return bool(pickled_columns(table.schema))


def _refuse_pickle(schema: pa.Schema, allow_pickle: bool) -> tuple[str, ...]:
    pickled = pickled_columns(schema)
    if pickled and not allow_pickle:
        raise PickledValuesError(pickled)
    return pickled


def table_to_rows(table: pa.Table, *, allow_pickle: bool = False) -> list[dict[str, Any]]:
    """The rows of ``table``, pickled values unpickled.

    Raises:
        PickledValuesError: ``table`` holds pickled values and ``allow_pickle`` is False.
    """
    pickled = _refuse_pickle(table.schema, allow_pickle)
    if table.num_columns == 0:
        return [{} for _ in range(table.num_rows)]
    names = table.column_names
    columns = [
        [pickle.loads(value) for value in table.column(name).to_pylist()]
        if name in pickled
        else table.column(name).to_pylist()
        for name in names
    ]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def encode_table(table: pa.Table) -> bytes:
    """``table`` as Arrow IPC file bytes."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def encode_rows(rows: list[dict[str, Any]], *, allow_pickle: bool = False) -> bytes:
    """``rows`` as Arrow IPC file bytes (see :func:`rows_to_table`)."""
    return encode_table(rows_to_table(rows, allow_pickle=allow_pickle))


def part_schema(data: bytes) -> pa.Schema:
    """The schema of a part's Arrow IPC file bytes, read from its footer alone."""
    return pa.ipc.open_file(pa.py_buffer(data)).schema


def decode_table(data: bytes, *, allow_pickle: bool = False) -> pa.Table:
    """The Arrow table held in Arrow IPC file bytes; pickled values stay pickled bytes.

    Raises:
        PickledValuesError: the table holds pickled values and ``allow_pickle`` is False.
    """
    table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
    _refuse_pickle(table.schema, allow_pickle)
    return table


def decode_rows(data: bytes, *, allow_pickle: bool = False) -> list[dict[str, Any]]:
    """The rows :func:`encode_rows` encoded.

    Raises:
        PickledValuesError: the part holds pickled values and ``allow_pickle`` is False.
    """
    return table_to_rows(decode_table(data, allow_pickle=allow_pickle), allow_pickle=allow_pickle)


def preload_converters() -> None:
    """Makes pyarrow finish its lazy imports (pandas, when installed) now.

    pyarrow imports pandas on its first conversion of a Python list, which costs about half a
    second; a runner that forks step processes calls this once so no step pays it again.
    """
    pa.array([0])
