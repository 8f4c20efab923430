"""Read-ahead: a step works on several input batches at once and still writes its parts in order.

:func:`in_order` takes jobs from an iterator only while fewer than ``window`` are in flight, runs
each in a worker thread and yields their results in the order of the jobs. The iterator is the
executor's loop over input batches, so it reads the next input batch (and checks token budgets)
only when there is room: at most ``window`` batches are read but not yet written. A result is
yielded as soon as it and every earlier one are ready. With ``window`` 1 jobs run one after the
other in the calling thread, as without read-ahead.

A job of ``None`` (an empty part) costs no thread and yields ``None``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

__all__ = ["in_order"]

DRAIN_SECONDS = 30.0
"""How long a failing read-ahead waits for the jobs still running before it lets the step go on."""

K = TypeVar("K")
R = TypeVar("R")


class _Done(Generic[R]):
    """A finished job's result, held like a future."""

    def __init__(self, value: R | None) -> None:
        self.value = value

    def done(self) -> bool:
        return True

    def result(self) -> R | None:
        return self.value


def in_order(
    jobs: Iterator[tuple[K, Callable[[], R] | None]], window: int, name: str = "read-ahead"
) -> Iterator[tuple[K, R | None]]:
    """``(key, job())`` for every ``(key, job)`` of ``jobs``, in order, at most ``window`` running at once.

    An exception of a job is raised when its turn comes; jobs not started yet are then cancelled
    and the ones running get up to :data:`DRAIN_SECONDS` to finish, so that a failing step does not
    unload its model under a ``generate`` call still running (an async LLM's requests that are still
    waiting then end when it unloads).
    """
    if window <= 1:
        for key, job in jobs:
            yield key, job() if job is not None else None
        return
    pool = ThreadPoolExecutor(max_workers=window, thread_name_prefix=name)
    pending: deque[tuple[K, Future[R] | _Done[R]]] = deque()
    finished = False
    try:
        for key, job in jobs:
            pending.append((key, pool.submit(job) if job is not None else _Done(None)))
            while pending and (len(pending) >= window or pending[0][1].done()):
                head_key, head = pending.popleft()
                yield head_key, head.result()
        while pending:
            head_key, head = pending.popleft()
            yield head_key, head.result()
        finished = True
    finally:
        pool.shutdown(wait=finished, cancel_futures=True)
        if not finished:
            wait([future for _, future in pending if isinstance(future, Future)], timeout=DRAIN_SECONDS)
