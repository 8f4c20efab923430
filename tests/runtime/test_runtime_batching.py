"""Re-batching gives exactly input_batch_size rows per batch, whatever the part sizes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_dististage.runtime.batching import chunked, input_batches


def _parts(sizes: list[int], tag: str) -> list[list[dict]]:
    parts, n = [], 0
    for size in sizes:
        parts.append([{tag: n + i} for i in range(size)])
        n += size
    return parts


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 12), max_size=12), st.integers(1, 9))
def test_single_predecessor_batches_are_exact(sizes: list[int], size: int) -> None:
    batches = [batch for (batch,) in input_batches([_parts(sizes, "n")], size)]
    flat = [row["n"] for batch in batches for row in batch]
    assert flat == list(range(sum(sizes)))
    assert all(len(batch) == size for batch in batches[:-1])
    assert not batches or 1 <= len(batches[-1]) <= size


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10), max_size=8), st.lists(st.integers(0, 10), max_size=8), st.integers(1, 7))
def test_several_predecessors_get_one_list_each(a: list[int], b: list[int], size: int) -> None:
    batches = list(input_batches([_parts(a, "a"), _parts(b, "b")], size))
    for name, sizes, index in (("a", a, 0), ("b", b, 1)):
        lists = [batch[index] for batch in batches]
        assert [row[name] for rows in lists for row in rows] == list(range(sum(sizes)))
        full = sum(sizes) // size
        assert [len(rows) for rows in lists[:full]] == [size] * full
    assert len(batches) == -(-max(sum(a), sum(b)) // size)


def test_no_rows_give_no_batches() -> None:
    assert list(input_batches([[[], []]], 5)) == []
    assert list(input_batches([[], [[]]], 5)) == []


def test_chunked() -> None:
    assert list(chunked([{"i": i} for i in range(5)], 2)) == [[{"i": 0}, {"i": 1}], [{"i": 2}, {"i": 3}], [{"i": 4}]]
    assert list(chunked([], 3)) == []
