"""What a step's markers say about it: not started, running, finished, failed or dead."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_dististage.runtime.store import BatchStore


class UpstreamFailedError(RuntimeError):
    """A predecessor failed or stopped heartbeating; ``step`` names it."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"Predecessor step {step!r} {reason}")
        self.step = step


@dataclass(frozen=True)
class StepState:
    """A step's state, read from the markers of all its replicas.

    ``started`` is True once every replica started or finished; ``parts`` is the step's part
    count once every replica finished, else None.
    """

    started: bool
    parts: int | None

    @property
    def finished(self) -> bool:
        return self.parts is not None


def current_marker(store: BatchStore, step: str, kind: str, replica: int, fingerprint: str) -> dict[str, Any] | None:
    """``step``'s ``kind`` marker of ``replica`` when it belongs to ``fingerprint``, else None.

    A marker of another fingerprint was left by an earlier version of the step or its inputs
    (a stale cache) and says nothing about this run.
    """
    marker = store.read_marker(step, kind, replica)
    return marker if marker is not None and marker.get("fingerprint") == fingerprint else None


def read_step_state(
    store: BatchStore,
    step: str,
    replicas: int,
    fingerprint: str,
    heartbeat_timeout: float,
) -> StepState:
    """Reads ``step``'s markers; markers of another fingerprint (a stale cache) do not count.

    A ``started`` marker without heartbeat belongs to an attempt that is not running (yet): the
    replica counts as not started. A ``failed`` marker with ``will_retry`` counts as running for
    ``heartbeat_timeout`` seconds, the time its retry has to start.

    Raises:
        UpstreamFailedError: a replica published ``failed`` (and no retry is due), or its
            heartbeat is older than ``heartbeat_timeout`` seconds without ``finished``.
    """
    started = True
    parts: int | None = None
    all_finished = True
    for replica in range(replicas):
        finished = current_marker(store, step, "finished", replica, fingerprint)
        if finished is not None:
            parts = finished["batches"]
            continue
        all_finished = False
        failed = current_marker(store, step, "failed", replica, fingerprint)
        if failed is not None:
            _check_retry_due(step, replica, failed, heartbeat_timeout)
            continue
        running = current_marker(store, step, "started", replica, fingerprint)
        if running is None or running.get("heartbeat") is None:
            started = False
            continue
        silence = time.time() - running["heartbeat"]
        if silence > heartbeat_timeout:
            raise UpstreamFailedError(
                step,
                f"stopped heartbeating (replica {replica}, attempt {running.get('attempt')}, last heartbeat"
                f" {silence:.0f} s ago, limit {heartbeat_timeout:.0f} s): its process died.",
            )
    return StepState(started=started, parts=parts if all_finished else None)


def _check_retry_due(step: str, replica: int, failed: dict[str, Any], heartbeat_timeout: float) -> None:
    """Raises unless ``failed`` announced a retry that may still start (its delay + ``heartbeat_timeout``)."""
    if not failed.get("will_retry"):
        raise UpstreamFailedError(step, f"failed (replica {replica}): {failed.get('error')}")
    now = time.time()
    overdue = now - failed.get("retry_by", failed["at"])
    if overdue > heartbeat_timeout:
        raise UpstreamFailedError(
            step,
            f"failed (replica {replica}) and was not retried within {heartbeat_timeout:.0f} s of its"
            f" retry delay ({now - failed['at']:.0f} s ago): {failed.get('error')}",
        )
