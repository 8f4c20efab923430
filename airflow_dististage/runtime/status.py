"""What a step's markers say about it: not started, running, finished, failed or dead."""

from __future__ import annotations

import time
from dataclasses import dataclass

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


def read_step_state(
    store: BatchStore,
    step: str,
    replicas: int,
    fingerprint: str,
    heartbeat_timeout: float,
) -> StepState:
    """Reads ``step``'s markers; markers of another fingerprint (a stale cache) do not count.

    Raises:
        UpstreamFailedError: a replica published ``failed``, or its heartbeat is older than
            ``heartbeat_timeout`` seconds without ``finished``.
    """
    started = True
    parts: int | None = None
    all_finished = True
    for replica in range(replicas):
        finished = store.read_marker(step, "finished", replica)
        if finished is not None and finished.get("fingerprint") == fingerprint:
            parts = finished["batches"]
            continue
        all_finished = False
        failed = store.read_marker(step, "failed", replica)
        if failed is not None and failed.get("fingerprint") == fingerprint:
            raise UpstreamFailedError(step, f"failed (replica {replica}): {failed.get('error')}")
        running = store.read_marker(step, "started", replica)
        if running is None or running.get("fingerprint") != fingerprint:
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
