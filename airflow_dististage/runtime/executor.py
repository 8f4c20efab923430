"""``StepExecution``: one step (or one replica of it) run to completion over the batch store.

Output part ``k`` of a normal step holds everything ``process`` yielded for input batch ``k``
(possibly no rows), so a retry rewrites the same parts and readers never see a gap. Replica
``r`` of ``N`` handles the input batches ``k`` with ``k % N == r``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx

from airflow_dististage.runtime.backoff import Backoff
from airflow_dististage.runtime.batching import chunked, input_batches
from airflow_dististage.runtime.progress import StepProgress
from airflow_dististage.runtime.status import StepState, UpstreamFailedError, current_marker, read_step_state
from airflow_dististage.runtime.store import BatchStore

if TYPE_CHECKING:
    from airflow_dististage.pipeline.base import Pipeline
    from airflow_dististage.planning import ExecutionPlan

logger = logging.getLogger("airflow_dististage.runtime")

GLOBAL_OUTPUT_PART_ROWS = 1000
"""Rows per output part of a global step (it yields all its rows at once)."""

_MAX_POLL_INTERVAL = 0.1
_STATE_CHECK_SECONDS = 1.0
"""While a predecessor's parts are there to read, its markers are still read this often."""


@dataclass(frozen=True)
class StepSummary:
    """What one step execution (one replica) read and wrote."""

    batches_in: int
    rows_in: int
    batches_out: int
    rows_out: int
    seconds: float


def lineage_fingerprints(pipeline: Pipeline, plan: ExecutionPlan) -> dict[str, str]:
    """Per step, a hash of its own fingerprint and its predecessors' lineage.

    It changes when the step or anything upstream of it changes, which is what decides whether
    a finished step's output can be reused.
    """
    steps = pipeline.steps
    lineage: dict[str, str] = {}
    for name in nx.topological_sort(pipeline.dag):
        inherited = [lineage[predecessor] for predecessor in plan.steps[name].predecessors]
        blob = "|".join([steps[name].fingerprint(), *inherited]).encode()
        lineage[name] = hashlib.sha256(blob).hexdigest()[:16]
    return lineage


class StepExecution:
    """Runs one replica of one step of a planned pipeline, reading and writing ``store``.

    Args:
        pipeline: the pipeline, runtime parameters already applied.
        plan: ``pipeline.plan(load_groups)``.
        store: the run's batch store.
        step_name: the step to run.
        replica: which replica (``0 <= replica < StepResources.replicas``).
        heartbeat_interval: seconds between heartbeats while running.
        heartbeat_timeout: a predecessor silent for longer is treated as dead.
        poll_interval: first wait between looks for a predecessor's next part (it backs off).
        fingerprints: precomputed :func:`lineage_fingerprints` (saves recomputing them per replica).
        final_attempt: False when a failure of this attempt will be retried (an Airflow task with
            retries left): its ``failed`` marker then asks successors to wait for the retry.
        retry_delay: seconds until such a retry starts at the latest; successors wait that long
            plus ``heartbeat_timeout`` before they take the step for dead.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        plan: ExecutionPlan,
        store: BatchStore,
        step_name: str,
        replica: int = 0,
        *,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 60.0,
        poll_interval: float = 0.01,
        fingerprints: Mapping[str, str] | None = None,
        final_attempt: bool = True,
        retry_delay: float = 0.0,
    ) -> None:
        if step_name not in plan.steps:
            raise ValueError(f"Step {step_name!r} is not in the plan of pipeline {plan.pipeline_name!r}.")
        self.step = pipeline.steps[step_name]
        self.step_plan = plan.steps[step_name]
        replicas = self.step_plan.replicas
        if not isinstance(replica, int) or not 0 <= replica < replicas:
            raise ValueError(f"Step {step_name!r} has {replicas} replica(s); replica {replica!r} does not exist.")
        if replicas > 1 and not self.step.is_normal:
            raise ValueError(
                f"Step {step_name!r} is a {self.step.kind} step: only normal steps can have replicas, got {replicas}."
            )
        if heartbeat_timeout <= heartbeat_interval:
            raise ValueError(
                f"heartbeat_timeout ({heartbeat_timeout}) must exceed heartbeat_interval ({heartbeat_interval})."
            )
        self.plan = plan
        self.store = store
        self.step_name = step_name
        self.replica = replica
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.poll_interval = poll_interval
        self.final_attempt = final_attempt
        self.retry_delay = retry_delay
        self.fingerprints = dict(fingerprints or lineage_fingerprints(pipeline, plan))
        self.fingerprint = self.fingerprints[step_name]
        self.attempt = 0

    def __repr__(self) -> str:
        return f"StepExecution(step={self.step_name!r}, replica={self.replica}, store={self.store!r})"

    # -- state -------------------------------------------------------------------------------
    def _state_of(self, step: str) -> StepState:
        return read_step_state(
            self.store, step, self.plan.steps[step].replicas, self.fingerprints[step], self.heartbeat_timeout
        )

    def predecessors_started(self) -> bool:
        """True once every replica of every predecessor started or finished; loads nothing.

        Raises:
            UpstreamFailedError: a predecessor failed or stopped heartbeating.
        """
        return all(self._state_of(predecessor).started for predecessor in self.step_plan.predecessors)

    def is_finished(self) -> bool:
        """Whether this replica already finished in this run, with the current step and inputs."""
        return self._finished_marker() is not None

    def is_failed(self) -> bool:
        """Whether this replica published ``failed`` in this run (and has not restarted since)."""
        return self.failed_marker() is not None

    def failed_marker(self) -> dict[str, Any] | None:
        """This replica's ``failed`` marker in this run (``error`` holds the error text), else None."""
        return self._own_marker("failed")

    def _finished_marker(self) -> dict[str, Any] | None:
        return self._own_marker("finished")

    def _own_marker(self, kind: str) -> dict[str, Any] | None:
        return current_marker(self.store, self.step_name, kind, self.replica, self.fingerprint)

    def mark_not_running(self) -> None:
        """Marks an earlier attempt of this replica as no longer running; call before a new attempt waits.

        A killed attempt leaves its ``started`` marker with its last heartbeat; once that is older
        than ``heartbeat_timeout`` a successor would call the step dead before the new attempt
        rewrote it. Without heartbeat the replica counts as not started, while fingerprint and
        attempt stay, so :meth:`run` still resumes after the last committed part.
        """
        marker = self._own_marker("started")
        if marker is not None and marker.get("heartbeat") is not None:
            self.store.write_marker(self.step_name, "started", {**marker, "heartbeat": None}, self.replica)

    # -- running -----------------------------------------------------------------------------
    def run(self) -> StepSummary:
        """Loads the step once, processes all its input, unloads it and publishes ``finished``.

        Resumes after the last committed part of an earlier attempt; returns at once when this
        replica already finished.

        Raises:
            UpstreamFailedError: a predecessor failed or stopped heartbeating.
            RuntimeError: a predecessor has not started (wait for :meth:`predecessors_started`).
        """
        finished = self._finished_marker()
        if finished is not None:
            return StepSummary(**{key: finished[key] for key in StepSummary.__dataclass_fields__})
        if not self.predecessors_started():
            raise RuntimeError(
                f"Step {self.step_name!r} cannot run yet: not every predecessor of it has started."
                " Wait until predecessors_started() is True."
            )
        progress = StepProgress(self.step_name, self.replica)
        committed = self._begin_attempt(progress)
        heartbeat = _Heartbeat(self, progress)
        heartbeat.start()
        try:
            self.step.load()
            try:
                parts = self._execute(progress, committed)
            finally:
                self.step.unload()
        except BaseException as error:
            heartbeat.stop()
            self.publish_failure(error)
            progress.log("failed")
            raise
        heartbeat.stop()
        summary = StepSummary(
            batches_in=progress.batches_in,
            rows_in=progress.rows_in,
            batches_out=progress.batches_out,
            rows_out=progress.rows_out,
            seconds=round(progress.seconds, 3),
        )
        marker = {"fingerprint": self.fingerprint, "attempt": self.attempt, "batches": parts, **vars(summary)}
        self.store.write_marker(self.step_name, "finished", marker, self.replica)
        progress.log("finished")
        return summary

    def _begin_attempt(self, progress: StepProgress) -> set[int]:
        """Publishes ``started``; returns the sequences an earlier attempt of this replica committed.

        Stale output (another fingerprint) loses its markers before its parts, so a crash in
        between never leaves a ``finished`` marker without its parts. ``started`` is rewritten
        before ``failed`` is withdrawn, so successors waiting for this retry never see a gap.
        """
        previous = self._own_marker("started")
        own = [seq for seq in self.store.part_sequences(self.step_name) if self._owns(seq)]
        if previous is None:
            self.store.delete_marker(self.step_name, "finished", self.replica)
            self.store.delete_marker(self.step_name, "started", self.replica)
            self.store.delete_parts(self.step_name, own)
            own = []
        self.attempt = previous["attempt"] + 1 if previous is not None else 1
        self.publish_heartbeat(progress)
        self.store.delete_marker(self.step_name, "failed", self.replica)
        self.store.delete_marker(self.step_name, "finished", self.replica)
        return set(own)

    def _owns(self, sequence: int) -> bool:
        return sequence % self.step_plan.replicas == self.replica

    def publish_heartbeat(self, progress: StepProgress) -> None:
        """Rewrites the ``started`` marker with the current time and progress."""
        marker = {
            "fingerprint": self.fingerprint,
            "attempt": self.attempt,
            "heartbeat": time.time(),
            **progress.as_payload(),
        }
        self.store.write_marker(self.step_name, "started", marker, self.replica)

    def publish_failure(self, error: BaseException) -> None:
        """Publishes this replica's ``failed`` marker, so its successors stop and name it.

        When this is not the final attempt and the error is the step's own (not a predecessor's),
        the marker says ``will_retry``: successors wait for the retry (see :func:`read_step_state`).
        """
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
        will_retry = not self.final_attempt and not isinstance(error, UpstreamFailedError)
        now = time.time()
        marker = {
            "fingerprint": self.fingerprint,
            "attempt": self.attempt,
            "error": text,
            "will_retry": will_retry,
            "at": now,
            "retry_by": now + self.retry_delay,
        }
        self.store.write_marker(self.step_name, "failed", marker, self.replica)

    def _execute(self, progress: StepProgress, committed: set[int]) -> int:
        """Processes the step's input; returns the number of parts the whole step has."""
        if self.step.is_generator:
            return self._run_generator(progress, committed)
        if self.step.is_global:
            return self._run_global(progress)
        return self._run_normal(progress, committed)

    def _run_generator(self, progress: StepProgress, committed: set[int]) -> int:
        sequence = 0
        offset = 0
        while sequence in committed:
            rows = len(self.store.read_part(self.step_name, sequence) or [])
            progress.produced(rows)
            offset += rows
            sequence += 1
        for item in self.step.process(offset):
            if not isinstance(item, tuple) or len(item) != 2:
                raise TypeError(
                    f"Generator step {self.step_name!r}: process() must yield (rows, is_last) pairs,"
                    f" got {type(item).__name__}."
                )
            rows, is_last = item
            for part in chunked(self.step.rename_outputs(rows), self.step.batch_size):
                self.store.write_part(self.step_name, sequence, part)
                progress.produced(len(part))
                sequence += 1
            if is_last:
                break
        return sequence

    def _run_global(self, progress: StepProgress) -> int:
        inputs = []
        for predecessor in self.step_plan.predecessors:
            rows = [row for part in self._read_predecessor(predecessor) for row in part]
            progress.consumed(len(rows))
            inputs.append(rows)
        outputs = self._collect(self.step.process_applying_mappings(*inputs))
        parts = 0
        for part in chunked(outputs, GLOBAL_OUTPUT_PART_ROWS):
            self.store.write_part(self.step_name, parts, part)
            progress.produced(len(part))
            parts += 1
        return parts

    def _run_normal(self, progress: StepProgress, committed: set[int]) -> int:
        # Every replica reads and decodes all predecessor parts, to cut the same input batches
        # as its siblings, and skips the batches it does not own.
        sources = [self._read_predecessor(predecessor) for predecessor in self.step_plan.predecessors]
        sequence = -1
        for sequence, batch in enumerate(input_batches(sources, self.step.input_batch_size)):
            if not self._owns(sequence):
                continue
            progress.consumed(sum(len(rows) for rows in batch))
            if sequence in committed:
                progress.produced(len(self.store.read_part(self.step_name, sequence) or []))
                continue
            outputs = self._collect(self.step.process_applying_mappings(*batch))
            self.store.write_part(self.step_name, sequence, outputs)
            progress.produced(len(outputs))
        return sequence + 1

    def _collect(self, batches: Iterable[Any]) -> list[dict[str, Any]]:
        """The rows of every list ``process`` yielded, checked to be lists of dicts."""
        rows: list[dict[str, Any]] = []
        for batch in batches:
            if not isinstance(batch, list) or (batch and not isinstance(batch[0], dict)):
                raise TypeError(
                    f"Step {self.step_name!r}: process() must yield lists of rows (dicts), got"
                    f" {type(batch).__name__}{' of ' + type(batch[0]).__name__ if isinstance(batch, list) else ''}."
                )
            rows.extend(batch)
        return rows

    def _read_predecessor(self, predecessor: str) -> Iterator[list[dict[str, Any]]]:
        """``predecessor``'s parts in sequence order, waiting for each until it finished.

        Its markers are read whenever a part is missing and at least every
        ``_STATE_CHECK_SECONDS`` otherwise, so a slow reader of a failed predecessor stops
        within seconds instead of working through what was already written.
        """
        sequence = 0
        backoff = Backoff(self.poll_interval, _MAX_POLL_INTERVAL)
        checked_at = time.monotonic()
        while True:
            rows = self.store.read_part(predecessor, sequence)
            if rows is None or time.monotonic() - checked_at >= _STATE_CHECK_SECONDS:
                state = self._state_of(predecessor)  # raises when it failed or died
                checked_at = time.monotonic()
            if rows is None:
                if not state.finished:
                    backoff.sleep()
                    continue
                if sequence >= state.parts:
                    return
                rows = self.store.read_part(predecessor, sequence)  # parts are written before `finished`
                if rows is None:
                    raise RuntimeError(
                        f"Step {predecessor!r} finished with {state.parts} parts but part {sequence} is missing"
                        f" from {self.store.step_path(predecessor)}: its output was modified; rerun it."
                    )
            yield rows
            sequence += 1
            backoff.reset()


class _Heartbeat:
    """Refreshes the ``started`` marker every ``heartbeat_interval`` seconds from a thread."""

    def __init__(self, execution: StepExecution, progress: StepProgress) -> None:
        self._execution = execution
        self._progress = progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{execution.step_name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _beat(self) -> None:
        """Beats until stopped; a failed write (a brief store outage) is logged and the next beat retries."""
        while not self._stop.wait(self._execution.heartbeat_interval):
            try:
                self._execution.publish_heartbeat(self._progress)
            except Exception:  # noqa: BLE001 - the next beat retries; dying here would look like a dead step
                logger.warning("heartbeat of %r failed; trying again", self._execution, exc_info=True)
