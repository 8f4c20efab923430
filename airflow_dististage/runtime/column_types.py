"""One Arrow type per column across the parts a step writes, so type drift fails at the batch that causes it.

Without this, a column that is int in batch 0 and str in batch 5 is only found out when the
Distiset concatenates the parts, by an Arrow error that names neither the step nor the column.

Unification rules, applied to each column (and, recursively, to list items and struct fields):

- null takes any type: a column that was all None so far takes the first concrete type, and a
  later all-None column is cast to the known type;
- int and float make float: a float column receiving ints casts them to float (refused when an int
  is too large to be exact as a float); an int column receiving floats keeps them and its known type
  becomes float (parts already written stay int: ``pa.concat_tables(..., promote_options="permissive")``
  promotes them);
- list<a> and list<b> make list<unify(a, b)>; struct fields are matched by name, a struct gaining
  a field keeps it, a struct lacking a known field gets it as None;
- a column missing from a batch, or new in it, is left as it is (concatenation fills in None);
- anything else raises :class:`ColumnTypeError`.

Columns holding pickled values (``allow_pickle=True``) are opaque bytes and are not tracked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from airflow_dististage.runtime.encoding import PartEncodingError, encode_table, pickled_columns, rows_to_table


class ColumnTypeError(PartEncodingError):
    """A batch's column has a type that cannot be unified with the column's type in earlier parts."""

    def __init__(self, column: str, previous: pa.DataType, new: pa.DataType, detail: str | None = None) -> None:
        message = f"Column {column!r} is {new} in this batch but was {previous} in the step's earlier parts"
        if detail:
            message += f" ({detail})"
        super().__init__(column, f"{message}: a column must keep one type across all batches of a step.")
        self.previous = previous
        self.new = new


def unify_types(known: pa.DataType, new: pa.DataType) -> pa.DataType | None:
    """The type both ``known`` and ``new`` values can be cast to under the module's rules, or None."""
    if known == new or pa.types.is_null(new):
        return known
    if pa.types.is_null(known):
        return new
    if pa.types.is_integer(known) and pa.types.is_floating(new):
        return new
    if pa.types.is_floating(known) and pa.types.is_integer(new):
        return known
    if pa.types.is_list(known) and pa.types.is_list(new):
        item = unify_types(known.value_type, new.value_type)
        return None if item is None else pa.list_(known.value_field.with_type(item))
    if pa.types.is_struct(known) and pa.types.is_struct(new):
        fields = {field.name: field for field in known}
        for field in new:
            if field.name not in fields:
                fields[field.name] = field
                continue
            unified = unify_types(fields[field.name].type, field.type)
            if unified is None:
                return None
            fields[field.name] = fields[field.name].with_type(unified)
        return pa.struct(list(fields.values()))
    return None


class ColumnTypes:
    """The Arrow type of each column of the parts one step (one replica) has written.

    Start empty for a fresh output, or from the schemas of the committed parts of a resumed one
    (:meth:`from_schema`, :meth:`observe`, in sequence order).
    """

    def __init__(self) -> None:
        self._types: dict[str, pa.DataType] = {}

    @classmethod
    def from_schema(cls, *schemas: pa.Schema) -> ColumnTypes:
        """Column types seeded from already written parts' schemas."""
        types = cls()
        for schema in schemas:
            types.observe(schema)
        return types

    @property
    def schema(self) -> pa.Schema:
        """The known column types."""
        return pa.schema(list(self._types.items()))

    def observe(self, schema: pa.Schema) -> None:
        """Records the column types of a part already written.

        Raises:
            ColumnTypeError: a column's type cannot be unified with its known type.
        """
        self._types = self._merged(schema)

    def conform(self, table: pa.Table) -> pa.Table:
        """``table`` with each column cast to its unified type; the known types are updated.

        Nothing is recorded when it raises, so a refused batch leaves the known types as they were.

        Raises:
            ColumnTypeError: a column's type cannot be unified with its known type, or a value
                cannot be cast to the unified type without loss.
        """
        merged = self._merged(table.schema)
        pickled = pickled_columns(table.schema)
        for index, field in enumerate(table.schema):
            if field.name in pickled:
                continue
            target = merged[field.name]
            if target == field.type:
                continue
            try:
                column = table.column(index).cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                raise ColumnTypeError(field.name, self._types[field.name], field.type, str(error)) from None
            table = table.set_column(index, pa.field(field.name, target), column)
        self._types = merged
        return table

    def _merged(self, schema: pa.Schema) -> dict[str, pa.DataType]:
        merged = dict(self._types)
        pickled = pickled_columns(schema)
        for field in schema:
            if field.name in pickled:
                continue
            known = merged.get(field.name)
            if known is None:
                merged[field.name] = field.type
                continue
            unified = unify_types(known, field.type)
            if unified is None:
                raise ColumnTypeError(field.name, known, field.type)
            merged[field.name] = unified
        return merged


def encode_part(
    rows: list[dict[str, Any]], types: ColumnTypes, *, allow_pickle: bool, metadata: Mapping[str, str] | None = None
) -> bytes:
    """``rows`` as the Arrow IPC bytes of a step's next part, conformed to (and updating) ``types``;
    ``metadata`` is added to the part's schema metadata.

    Raises:
        UnencodableColumnError: a column's values cannot be encoded by Arrow (without ``allow_pickle``),
            or a column name is not a str.
        ColumnTypeError: a column's type drifted from the step's earlier parts.
    """
    table = types.conform(rows_to_table(rows, allow_pickle=allow_pickle))
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    return encode_table(table)
