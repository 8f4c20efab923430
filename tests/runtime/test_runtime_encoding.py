"""Part encoding: nested values are native Arrow, pickle is opt-in on both sides, column types cannot drift."""

from __future__ import annotations

import os
import pickle
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_dististage.runtime.column_types import ColumnTypeError, ColumnTypes, encode_part
from airflow_dististage.runtime.encoding import (
    PickledValuesError,
    UnencodableColumnError,
    decode_rows,
    decode_table,
    encode_rows,
    encode_table,
    has_pickled_values,
    part_schema,
    table_to_rows,
)

LLM_ROWS = [
    {
        "instruction": "Say hi",
        "generations": ["hi", "hello"],
        "distilabel_metadata": {"raw_output": "hi", "statistics": {"input_tokens": 3, "output_tokens": 1}},
        "messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"}],
        "score": None,
    },
    {
        "instruction": "Say bye",
        "generations": [],
        "distilabel_metadata": {"raw_output": None, "statistics": {"input_tokens": 3, "output_tokens": 0}},
        "messages": [],
        "score": 0.5,
    },
]


class _Opaque:
    pass


def _part(rows: list[dict[str, Any]], types: ColumnTypes) -> pa.Table:
    return decode_table(encode_part(rows, types, allow_pickle=False))


# -- native nested values ------------------------------------------------------------------
def test_nested_values_are_native_arrow_types() -> None:
    data = encode_rows(LLM_ROWS)
    schema = part_schema(data)
    assert schema.metadata is None
    assert schema.field("generations").type == pa.list_(pa.string())
    assert schema.field("messages").type == pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    statistics = schema.field("distilabel_metadata").type.field("statistics").type
    assert statistics == pa.struct([("input_tokens", pa.int64()), ("output_tokens", pa.int64())])
    assert not has_pickled_values(decode_table(data))
    assert decode_rows(data) == LLM_ROWS


def test_rows_with_different_keys_read_back_as_the_union_of_keys() -> None:
    rows = [{"a": 1, "m": {"x": 1}}, {"b": "two", "m": {"y": [2]}}, {}]
    assert decode_rows(encode_rows(rows)) == [
        {"a": 1, "m": {"x": 1, "y": None}, "b": None},
        {"a": None, "m": {"x": None, "y": [2]}, "b": "two"},
        {"a": None, "m": None, "b": None},
    ]


def test_documented_conversions() -> None:
    rows = [{"n": 1, "t": (1, 2), "k": {b"raw": 1}, "e": {}}, {"n": 2.5, "t": None, "k": None, "e": {}}]
    assert decode_rows(encode_rows(rows)) == [
        {"n": 1.0, "t": [1, 2], "k": {"raw": 1}, "e": {}},
        {"n": 2.5, "t": None, "k": None, "e": {}},
    ]
    assert decode_rows(encode_rows([{}, {}])) == [{}, {}]


_SCALARS = [
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
]
_KEYS = st.text(min_size=1, max_size=5)


def _values_of_one_type() -> st.SearchStrategy[st.SearchStrategy[Any]]:
    """Strategies each drawing values of one Arrow type (None allowed anywhere, dicts of fixed keys)."""

    def nested(inner: st.SearchStrategy[st.SearchStrategy[Any]]) -> st.SearchStrategy[st.SearchStrategy[Any]]:
        lists = inner.map(lambda item: st.none() | st.lists(item, max_size=3))
        dicts = st.dictionaries(_KEYS, inner, min_size=1, max_size=3).map(
            lambda fields: st.none() | st.fixed_dictionaries(fields)
        )
        return lists | dicts

    return st.recursive(st.sampled_from(_SCALARS), nested, max_leaves=6)


@st.composite
def _native_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    columns = draw(st.dictionaries(_KEYS, _values_of_one_type(), max_size=4))
    return draw(st.lists(st.fixed_dictionaries(columns), max_size=6))


@settings(max_examples=150, deadline=None)
@given(_native_rows())
def test_arrow_native_rows_round_trip_exactly_without_pickle(rows: list[dict[str, Any]]) -> None:
    data = encode_rows(rows)
    assert not has_pickled_values(decode_table(data))
    assert decode_rows(data) == rows


# -- values Arrow cannot hold --------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "types"),
    [
        ([_Opaque()], ["_Opaque"]),
        (["text", 1], ["int", "str"]),
        ([True, 1], ["bool", "int"]),
        (["text", b"bytes"], ["bytes", "str"]),
        ([[1], {"a": 1}], ["dict", "list"]),
        ([[1, "x"]], ["list", "str"]),
        ([2**63], ["int64"]),
        ([{"deep": [2**70]}], ["int64"]),
    ],
)
def test_a_value_arrow_cannot_hold_raises_naming_the_column(values: list[Any], types: list[str]) -> None:
    rows = [{"fine": index, "bad": value} for index, value in enumerate(values)]
    with pytest.raises(UnencodableColumnError) as raised:
        encode_rows(rows)
    assert raised.value.column == "bad"
    assert "'bad'" in str(raised.value)
    assert all(name in raised.value.reason for name in types)
    with pytest.raises(UnencodableColumnError):
        encode_part(rows, ColumnTypes(), allow_pickle=False)


def test_column_names_must_be_strings() -> None:
    with pytest.raises(UnencodableColumnError, match="column names must be str, not int") as raised:
        encode_rows([{1: "int key"}])
    assert raised.value.column == "1"


# -- pickle is opt-in -------------------------------------------------------------------
@pytest.mark.parametrize(
    "rows",
    [
        [{"a": 1}, {"a": "mixed"}, {"a": 2.5}],
        [{"a": True}, {"a": 1}],
        [{"a": 2**70}],
        [{"a": [1, "x"], "b": "native"}, {"a": {"nested": [None]}, "b": None}],
    ],
)
def test_pickled_values_need_opting_in_on_both_sides(rows: list[dict[str, Any]]) -> None:
    with pytest.raises(UnencodableColumnError):
        encode_rows(rows)
    data = encode_rows(rows, allow_pickle=True)
    assert has_pickled_values(decode_table(data, allow_pickle=True))
    with pytest.raises(PickledValuesError, match=r"columns \['a'\]"):
        decode_rows(data)
    decoded = decode_rows(data, allow_pickle=True)
    assert decoded == rows
    assert [[type(v) for v in row.values()] for row in decoded] == [[type(v) for v in row.values()] for row in rows]


class _CreatesFile:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.path,))


def test_a_planted_pickled_part_is_never_unpickled_without_opting_in(tmp_path: Any) -> None:
    target = str(tmp_path / "created-by-unpickling")
    payload = pa.array([pickle.dumps(_CreatesFile(target))], pa.binary())
    planted = pa.table({"generation": payload}).replace_schema_metadata(
        {b"dististage.pickled_columns": b'["generation"]'}
    )
    data = encode_table(planted)

    with pytest.raises(PickledValuesError):
        decode_rows(data)
    with pytest.raises(PickledValuesError):
        decode_table(data)
    with pytest.raises(PickledValuesError):
        table_to_rows(pa.ipc.open_file(pa.py_buffer(data)).read_all())
    assert not os.path.exists(target)

    decode_rows(data, allow_pickle=True)
    assert os.path.isdir(target)  # the payload was live: only the opt-in ran it


def test_binary_values_without_the_pickle_marker_stay_bytes(tmp_path: Any) -> None:
    target = str(tmp_path / "created-by-unpickling")
    payload = pickle.dumps(_CreatesFile(target))
    planted = pa.table({"rows": pa.array([payload], pa.binary())}).replace_schema_metadata(
        {b"dististage.pickled_rows": b"1"}
    )
    assert decode_rows(encode_table(planted)) == [{"rows": payload}]
    assert not os.path.exists(target)


# -- column types across parts -------------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "then", "previous", "new"),
    [
        (1, "five", pa.int64(), pa.string()),
        (["a"], {"k": "a"}, pa.list_(pa.string()), pa.struct([("k", pa.string())])),
        ("text", ["text"], pa.string(), pa.list_(pa.string())),
        (True, 1, pa.bool_(), pa.int64()),
        (1.5, True, pa.float64(), pa.bool_()),
        ("text", b"bytes", pa.string(), pa.binary()),
        ([1], ["x"], pa.list_(pa.int64()), pa.list_(pa.string())),
        ({"a": 1}, {"a": "x"}, pa.struct([("a", pa.int64())]), pa.struct([("a", pa.string())])),
        (1.5, 2**53 + 1, pa.float64(), pa.int64()),
    ],
)
def test_type_drift_raises_naming_the_column_and_both_types(
    first: Any, then: Any, previous: pa.DataType, new: pa.DataType
) -> None:
    types = ColumnTypes()
    encode_part([{"id": 0, "value": first}], types, allow_pickle=False)
    with pytest.raises(ColumnTypeError) as raised:
        encode_part([{"id": 1, "value": then}], types, allow_pickle=False)
    error = raised.value
    assert (error.column, error.previous, error.new) == ("value", previous, new)
    assert all(text in str(error) for text in ("'value'", str(previous), str(new)))
    assert types.schema == pa.schema([("id", pa.int64()), ("value", previous)])


def test_a_refused_batch_leaves_the_known_types_unchanged() -> None:
    types = ColumnTypes()
    encode_part([{"a": None, "b": 1}], types, allow_pickle=False)
    with pytest.raises(ColumnTypeError):
        encode_part([{"a": "now a string", "b": "drift"}], types, allow_pickle=False)
    assert types.schema == pa.schema([("a", pa.null()), ("b", pa.int64())])


def _concatenated(parts: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(parts, promote_options="permissive")


def test_null_columns_take_the_first_concrete_type() -> None:
    types = ColumnTypes()
    parts = [_part([{"a": None}], types), _part([{"a": "x"}], types), _part([{"a": None}], types)]
    assert [part.schema.field("a").type for part in parts] == [pa.null(), pa.string(), pa.string()]
    assert _concatenated(parts).to_pylist() == [{"a": None}, {"a": "x"}, {"a": None}]


def test_ints_and_floats_unify_to_float() -> None:
    types = ColumnTypes()
    parts = [_part([{"a": 1}], types), _part([{"a": 2.5}], types), _part([{"a": 3}], types)]
    assert [part.schema.field("a").type for part in parts] == [pa.int64(), pa.float64(), pa.float64()]
    assert types.schema.field("a").type == pa.float64()
    rows = _concatenated(parts).to_pylist()
    assert rows == [{"a": 1.0}, {"a": 2.5}, {"a": 3.0}] and all(isinstance(row["a"], float) for row in rows)


def test_nested_types_unify() -> None:
    types = ColumnTypes()
    batches = [
        [{"g": [], "m": {"a": 1}}],
        [{"g": ["x"], "m": {"a": 2.5, "b": "new field"}}],
        [{"g": [], "m": {"a": 3}}],
        [{"g": None, "m": None}],
    ]
    parts = [_part(rows, types) for rows in batches]
    known = pa.schema([("g", pa.list_(pa.string())), ("m", pa.struct([("a", pa.float64()), ("b", pa.string())]))])
    assert types.schema == known
    assert parts[2].schema == known and parts[3].schema == known
    assert _concatenated(parts).to_pylist() == [
        {"g": [], "m": {"a": 1.0, "b": None}},
        {"g": ["x"], "m": {"a": 2.5, "b": "new field"}},
        {"g": [], "m": {"a": 3.0, "b": None}},
        {"g": None, "m": None},
    ]


def test_columns_may_appear_and_disappear_between_batches() -> None:
    types = ColumnTypes()
    parts = [_part([{"a": 1}], types), _part([{"b": "x"}], types), _part([], types), _part([{"a": 2}], types)]
    assert types.schema == pa.schema([("a", pa.int64()), ("b", pa.string())])
    assert _concatenated(parts).to_pylist() == [{"a": 1, "b": None}, {"a": None, "b": "x"}, {"a": 2, "b": None}]


def test_seeded_from_written_parts_schemas() -> None:
    written = [encode_rows([{"a": 1, "m": {"x": 1}}]), encode_rows([{"a": 2.5, "m": None}])]
    types = ColumnTypes.from_schema(*(part_schema(data) for data in written))
    assert types.schema == pa.schema([("a", pa.float64()), ("m", pa.struct([("x", pa.int64())]))])
    assert _part([{"a": 3}], types).schema.field("a").type == pa.float64()
    with pytest.raises(ColumnTypeError) as raised:
        encode_part([{"m": {"x": "text"}}], types, allow_pickle=False)
    assert raised.value.column == "m"

    types = ColumnTypes()
    types.observe(part_schema(written[0]))
    with pytest.raises(ColumnTypeError, match="'a' is string"):
        encode_part([{"a": "text"}], types, allow_pickle=False)


def test_pickled_columns_are_not_type_tracked() -> None:
    types = ColumnTypes()
    encode_part([{"a": "native", "b": 1}], types, allow_pickle=True)
    data = encode_part([{"a": _Opaque(), "b": 2}], types, allow_pickle=True)
    assert isinstance(decode_rows(data, allow_pickle=True)[0]["a"], _Opaque)
    assert types.schema == pa.schema([("a", pa.string()), ("b", pa.int64())])
    assert ColumnTypes.from_schema(part_schema(data)).schema == pa.schema([("b", pa.int64())])


_NUMBERS = st.none() | st.integers(-5, 5) | st.floats(-5, 5)
_SHAPES = (
    _NUMBERS,
    st.none() | st.lists(_NUMBERS, max_size=2),
    st.none() | st.dictionaries(st.sampled_from("xy"), _NUMBERS),
    st.none() | st.lists(st.dictionaries(st.sampled_from("xy"), _NUMBERS), max_size=2),
)


@st.composite
def _batches_of_one_shape_per_column(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """Batches whose columns keep one shape (scalar, list, dict, list of dicts) with None, int or float leaves."""
    shapes = draw(st.fixed_dictionaries({column: st.sampled_from(_SHAPES) for column in "abc"}))
    row = st.fixed_dictionaries({}, optional=shapes)
    return draw(st.lists(st.lists(row, min_size=1, max_size=3), max_size=6))


def _as_type(value: Any, arrow_type: pa.DataType) -> Any:
    """``value`` as it reads back from a column of ``arrow_type`` (the unification rules, in Python)."""
    if value is None:
        return None
    if pa.types.is_floating(arrow_type):
        return float(value)
    if pa.types.is_list(arrow_type):
        return [_as_type(item, arrow_type.value_type) for item in value]
    if pa.types.is_struct(arrow_type):
        return {field.name: _as_type(value.get(field.name), field.type) for field in arrow_type}
    return value


@settings(max_examples=200, deadline=None)
@given(_batches_of_one_shape_per_column())
def test_batches_of_one_shape_per_column_unify_and_concatenate(batches: list[list[dict[str, Any]]]) -> None:
    types = ColumnTypes()
    parts = [_part(rows, types) for rows in batches]
    if not types.schema:
        return  # rows without columns: nothing to concatenate
    combined = _concatenated(parts)
    assert combined.schema == types.schema
    rows = [row for batch in batches for row in batch]
    assert combined.to_pylist() == [
        {field.name: _as_type(row.get(field.name), field.type) for field in types.schema} for row in rows
    ]
