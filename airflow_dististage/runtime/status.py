"""What a step's markers say about it: not started, running, finished, failed or dead.

Markers alone cannot tell a step that is about to be retried or rescheduled from one that never
will be. Where the step runs as an Airflow task, a :data:`TaskStateProbe` answers with the task's
real state, so a reader waits exactly as long as Airflow may still run the step, and no longer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_dististage.runtime.store import StepData

TaskStateProbe = Callable[[str, int], "str | None"]
"""``probe(step, replica)`` -> the Airflow state of that replica's task instance in this run."""

ENDED_TASK_STATES = frozenset({"failed", "upstream_failed", "skipped", "removed", "success"})
"""Task states after which Airflow will not run the task again unless a person clears it."""


class UpstreamFailedError(RuntimeError):
    """A predecessor failed or stopped heartbeating; ``step`` names it."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"Predecessor step {step!r} {reason}")
        self.step = step


@dataclass(frozen=True)
class StepState:
    """A step's state, read from the markers of all its replicas.

    ``started`` is True once every replica started or finished; ``parts`` is the step's part
    count once every replica finished, else None; ``generations`` holds, per replica, the
    generation its latest marker names (None before it first started).
    """

    started: bool
    parts: int | None
    generations: tuple[str | None, ...]

    @property
    def finished(self) -> bool:
        return self.parts is not None


def read_step_state(
    data: StepData,
    replicas: int,
    heartbeat_timeout: float,
    probe: TaskStateProbe | None = None,
) -> StepState:
    """Reads the markers of every replica of ``data``'s step.

    A ``started`` marker without heartbeat belongs to an attempt that is not running (yet): the
    replica counts as not started. A ``failed`` marker with ``will_retry`` counts as running
    while the retry may still come: as long as ``probe`` says Airflow may run the task again,
    or, without a probe, for ``heartbeat_timeout`` seconds past its announced retry time.

    Raises:
        UpstreamFailedError: a replica failed for good, stopped heartbeating for longer than
            ``heartbeat_timeout`` while Airflow (when probed) does not run it any more, or
            Airflow ended its task without it ever publishing ``finished``.
    """
    started = True
    parts: int | None = None
    all_finished = True
    generations: list[str | None] = []
    for replica in range(replicas):
        finished = data.read_marker("finished", replica)
        if finished is not None:
            parts = finished["batches"]
            generations.append(finished["generation"])
            continue
        all_finished = False
        failed = data.read_marker("failed", replica)
        running = data.read_marker("started", replica)
        generations.append((running or failed or {}).get("generation"))
        if failed is not None:
            _check_retry_due(data.name, replica, failed, heartbeat_timeout, probe)
            continue
        if running is None or running.get("heartbeat") is None:
            _check_task_alive(data.name, replica, probe, "has not started")
            started = False
            continue
        silence = time.time() - running["heartbeat"]
        if silence > heartbeat_timeout:
            _check_task_alive(
                data.name,
                replica,
                probe,
                f"stopped heartbeating (replica {replica}, attempt {running.get('attempt')}, last heartbeat"
                f" {silence:.0f} s ago, limit {heartbeat_timeout:.0f} s): its process died",
                without_probe_alive=False,
            )
    return StepState(started=started, parts=parts if all_finished else None, generations=tuple(generations))


_UNKNOWN = object()
"""What :func:`_airflow_state` gives without a probe, or when the probe cannot read the state."""


def _airflow_state(probe: TaskStateProbe | None, step: str, replica: int) -> object:
    if probe is None:
        return _UNKNOWN
    try:
        return probe(step, replica)
    except LookupError:
        return _UNKNOWN


def _raise_if_ended(step: str, replica: int, state: object, situation: str) -> None:
    if state in ENDED_TASK_STATES:
        raise UpstreamFailedError(
            step, f"{situation}, and its Airflow task (replica {replica}) is {state!r}: it will not run again."
        )


def _check_task_alive(
    step: str, replica: int, probe: TaskStateProbe | None, situation: str, *, without_probe_alive: bool = True
) -> None:
    """Raises when Airflow will not run ``step``'s task again (or, its state unknown, unless ``without_probe_alive``)."""
    state = _airflow_state(probe, step, replica)
    if state is _UNKNOWN:
        if not without_probe_alive:
            raise UpstreamFailedError(step, f"{situation}.")
        return
    _raise_if_ended(step, replica, state, situation)


def _check_retry_due(
    step: str, replica: int, failed: dict[str, Any], heartbeat_timeout: float, probe: TaskStateProbe | None
) -> None:
    """Raises unless ``failed`` announced a retry that may still start: Airflow's task state decides
    when it can be read, else the announced retry time plus ``heartbeat_timeout``."""
    if not failed.get("will_retry"):
        raise UpstreamFailedError(step, f"failed (replica {replica}): {failed.get('error')}")
    state = _airflow_state(probe, step, replica)
    if state is not _UNKNOWN:
        _raise_if_ended(step, replica, state, f"failed (replica {replica}): {failed.get('error')}")
        return
    now = time.time()
    overdue = now - failed.get("retry_by", failed["at"])
    if overdue > heartbeat_timeout:
        raise UpstreamFailedError(
            step,
            f"failed (replica {replica}) and was not retried within {heartbeat_timeout:.0f} s of its"
            f" retry delay ({now - failed['at']:.0f} s ago): {failed.get('error')}",
        )
