"""Re-batching: predecessor parts of any size in, input batches of exactly ``input_batch_size`` out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

Row = dict[str, Any]


class RowBuffer:
    """Takes rows from a stream of row lists ``size`` at a time, without copying them twice."""

    def __init__(self, parts: Iterable[list[Row]]) -> None:
        self._parts = iter(parts)
        self._current: list[Row] = []
        self._position = 0
        self.exhausted = False

    def take(self, size: int) -> list[Row]:
        """The next ``size`` rows; fewer (maybe none) only once the stream has ended."""
        batch: list[Row] = []
        while len(batch) < size:
            if self._position >= len(self._current):
                next_part = next(self._parts, None)
                if next_part is None:
                    self.exhausted = True
                    break
                self._current, self._position = next_part, 0
                continue
            end = self._position + size - len(batch)
            batch.extend(self._current[self._position : end])
            self._position = min(end, len(self._current))
        return batch


def input_batches(sources: list[Iterable[list[Row]]], size: int) -> Iterator[list[list[Row]]]:
    """Input batches for a step: one list of up to ``size`` rows per predecessor, as distilabel gives.

    Every list holds exactly ``size`` rows while its predecessor has them; a predecessor that has
    run out contributes an empty list. Stops when every predecessor has run out.
    """
    if size < 1:
        raise ValueError(f"Batch size must be >= 1, got {size!r}.")
    buffers = [RowBuffer(source) for source in sources]
    while True:
        batch = [buffer.take(size) for buffer in buffers]
        if not any(batch):
            return
        yield batch
        if all(buffer.exhausted for buffer in buffers):
            return


def chunked(rows: list[Row], size: int) -> Iterator[list[Row]]:
    """``rows`` in consecutive slices of ``size`` (none for no rows)."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
