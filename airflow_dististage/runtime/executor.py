"""``StepExecution``: one step (or one replica of it) run to completion over the batch store.

Output part ``k`` of a normal step holds everything ``process`` yielded for input batch ``k``
(possibly no rows), so a retry rewrites the same parts and readers never see a gap. Replica
``r`` of ``N`` handles the input batches ``k`` with ``k % N == r``.

A replica's output is one *generation* (see :mod:`~airflow_dististage.runtime.store`). An attempt
resumes the current generation after its last committed part when that is safe: same
incarnation (see ``StepExecution``), same input generations, and a generator that can start at an
offset. Otherwise it computes a new generation; readers following the old one notice and start
over on the new one, so a recomputation anywhere upstream never mixes old and new rows.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx

from airflow_dististage.runtime.backoff import Backoff
from airflow_dististage.runtime.batching import chunked
from airflow_dististage.runtime.progress import StepProgress
from airflow_dististage.runtime.read_ahead import in_order
from airflow_dististage.runtime.routing import (
    InputBatch,
    Route,
    RouteDecisions,
    global_step_inputs,
    part_metadata,
    step_input_batches,
)
from airflow_dististage.runtime.status import StepState, TaskStateProbe, UpstreamFailedError, read_step_state
from airflow_dististage.runtime.store import BatchStore, StepData, StoredPart, new_generation
from airflow_dististage.runtime.tokens import TokenBudget

if TYPE_CHECKING:
    from airflow_dististage.pipeline.base import Pipeline
    from airflow_dististage.planning import ExecutionPlan
    from airflow_dististage.runtime.gpus import GpuId

logger = logging.getLogger("airflow_dististage.runtime")

GLOBAL_OUTPUT_PART_ROWS = 1000
"""Rows per output part of a global step (it yields all its rows at once)."""

_MAX_POLL_INTERVAL = 0.1
_STATE_CHECK_SECONDS = 1.0
"""While a predecessor's parts are there to read, its markers are still read this often."""
MAX_INPUT_RESTARTS = 10
"""How often one attempt starts over because an input was recomputed while it read it."""


class InputRecomputedError(RuntimeError):
    """A predecessor's output was replaced by a new generation while this step was reading it."""

    def __init__(self, step: str, predecessor: str) -> None:
        super().__init__(f"Step {step!r}: the output of its predecessor {predecessor!r} was recomputed.")
        self.predecessor = predecessor


@dataclass(frozen=True)
class StepSummary:
    """What one step execution (one replica) read and wrote, the tokens its LLM used, and whether it
    stopped early because a ``max_tokens_per_run`` was reached (see :mod:`~airflow_dististage.runtime.tokens`)."""

    batches_in: int
    rows_in: int
    batches_out: int
    rows_out: int
    seconds: float
    input_tokens: int = 0
    output_tokens: int = 0
    token_budget_reached: bool = False


def lineage_fingerprints(pipeline: Pipeline, plan: ExecutionPlan) -> dict[str, str]:
    """Per step, a hash of its own fingerprint and its predecessors' lineage.

    It changes when the step or anything upstream of it changes, which is what decides whether
    a finished step's output can be reused. A step's routing batch function is part of it.
    """
    steps = pipeline.steps
    routers = pipeline.routing_batch_functions
    lineage: dict[str, str] = {}
    for name in nx.topological_sort(pipeline.dag):
        inherited = [lineage[predecessor] for predecessor in plan.steps[name].predecessors]
        own = [steps[name].fingerprint()]
        if name in routers:
            own.append(routers[name].fingerprint(plan.steps[name].successors))
        blob = "|".join([*own, *inherited]).encode()
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
        heartbeat_timeout: a predecessor silent for longer is treated as dead (unless ``probe``
            says its Airflow task still runs or will be retried).
        poll_interval: first wait between looks for a predecessor's next part (it backs off).
        fingerprints: precomputed :func:`lineage_fingerprints` (saves recomputing them per replica).
        final_attempt: False when a failure of this attempt will be retried (an Airflow task with
            retries left): its ``failed`` marker then asks successors to wait for the retry.
        retry_delay: seconds until such a retry starts at the latest; without a probe, successors
            wait that long plus ``heartbeat_timeout`` before they take the step for dead.
        incarnation: who asks for this output. None resumes or reuses whatever output the step
            has; any other value recomputes the step once unless its output was made by that same
            incarnation (an Airflow task's first try after a trigger or a Clear passes its task
            instance id; ``use_cache=False`` passes an id of the run).
        probe: tells the Airflow state of a step's task (see :mod:`~airflow_dististage.runtime.status`).
        stall_timeout: how long a predecessor that stopped running mid-stream (no heartbeat, e.g. a
            retry waiting for its own inputs) may stay so before this step gives up; None waits as
            long as the probe says Airflow may run it (the local runner watches its processes).
        max_tokens_per_run: the run's token budget for all its LLM steps together, or None (see
            :mod:`~airflow_dististage.runtime.tokens`).

    Attributes:
        held_gpus: the GPUs this replica holds while it runs, published in its markers; whoever
            claimed them (see :func:`~airflow_dististage.runtime.gpus.claim_gpus`) sets it.
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
        incarnation: str | None = None,
        probe: TaskStateProbe | None = None,
        stall_timeout: float | None = None,
        max_tokens_per_run: int | None = None,
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
        self.incarnation = incarnation
        self.probe = probe
        self.stall_timeout = stall_timeout
        self.fingerprints = dict(fingerprints or lineage_fingerprints(pipeline, plan))
        self.fingerprint = self.fingerprints[step_name]
        self.data = self.data_of(step_name)
        self._router = pipeline.routing_batch_functions.get(step_name)
        self._router_state = pipeline.routing_random_state(step_name) if self._router is not None else None
        self._routes: RouteDecisions | None = None
        self.attempt = 0
        self.generation: str | None = None
        self._marker_incarnation = incarnation
        self._inputs: dict[str, list[str | None]] = {}
        self.held_gpus: list[GpuId] = []
        self.token_budget = TokenBudget(self, pipeline.steps, max_tokens_per_run)
        self._budget_reached = False

    def __repr__(self) -> str:
        return f"StepExecution(step={self.step_name!r}, replica={self.replica}, store={self.store!r})"

    # -- state -------------------------------------------------------------------------------
    def data_of(self, step: str) -> StepData:
        """The store files of ``step`` (any step of the plan) under its lineage."""
        return self.store.step(step, self.fingerprints[step])

    def state_of(self, step: str) -> StepState:
        """``step``'s state from its markers (and the probe).

        Raises:
            UpstreamFailedError: it failed for good or died.
        """
        return read_step_state(self.data_of(step), self.plan.steps[step].replicas, self.heartbeat_timeout, self.probe)

    def predecessors_started(self) -> bool:
        """True once every replica of every predecessor started or finished; loads nothing.

        Raises:
            UpstreamFailedError: a predecessor failed or stopped heartbeating.
        """
        return all(self.state_of(predecessor).started for predecessor in self.step_plan.predecessors)

    def input_generations(self) -> dict[str, list[str | None]]:
        """Per predecessor, the generation each of its replicas is writing or wrote."""
        return {
            predecessor: list(self.state_of(predecessor).generations) for predecessor in self.step_plan.predecessors
        }

    def is_finished(self) -> bool:
        """Whether this replica's output is complete and current: finished for this incarnation, from
        the inputs its predecessors hold now."""
        finished = self.data.read_marker("finished", self.replica)
        if finished is None or not self._incarnation_matches(finished):
            return False
        try:
            return finished.get("inputs", {}) == self.input_generations()
        except UpstreamFailedError:
            return False

    def _incarnation_matches(self, marker: dict[str, Any]) -> bool:
        return self.incarnation is None or marker.get("incarnation") == self.incarnation

    def is_failed(self) -> bool:
        """Whether this replica published ``failed`` in this run (and has not restarted since)."""
        return self.failed_marker() is not None

    def failed_marker(self) -> dict[str, Any] | None:
        """This replica's ``failed`` marker in this run (``error`` holds the error text), else None."""
        return self.data.read_marker("failed", self.replica)

    def mark_not_running(self) -> None:
        """Marks an earlier attempt of this replica as no longer running; call before a new attempt waits.

        A killed attempt leaves its ``started`` marker with its last heartbeat; once that is older
        than ``heartbeat_timeout`` a successor would call the step dead before the new attempt
        rewrote it. Without heartbeat the replica counts as not started, while generation and
        attempt stay, so :meth:`run` still resumes after the last committed part.
        """
        marker = self.data.read_marker("started", self.replica)
        if marker is not None and marker.get("heartbeat") is not None:
            self.data.write_marker("started", {**marker, "heartbeat": None}, self.replica)

    # -- running -----------------------------------------------------------------------------
    def run(self) -> StepSummary:
        """Loads the step once, processes all its input, unloads it and publishes ``finished``.

        Returns at once when this replica's output is already complete and current; resumes
        after the last committed part of an earlier attempt when that is safe (see the module
        docstring); starts over, at most :data:`MAX_INPUT_RESTARTS` times, when an input is
        recomputed while it reads it.

        Raises:
            UpstreamFailedError: a predecessor failed or stopped heartbeating.
            RuntimeError: a predecessor has not started (wait for :meth:`predecessors_started`).
        """
        states = {predecessor: self.state_of(predecessor) for predecessor in self.step_plan.predecessors}
        inputs = {predecessor: list(state.generations) for predecessor, state in states.items()}
        finished = self.data.read_marker("finished", self.replica)
        if finished is not None and self._incarnation_matches(finished) and finished.get("inputs", {}) == inputs:
            return StepSummary(**{key: finished[key] for key in StepSummary.__dataclass_fields__ if key in finished})
        if not all(state.started for state in states.values()):
            raise RuntimeError(
                f"Step {self.step_name!r} cannot run yet: not every predecessor of it has started."
                " Wait until predecessors_started() is True."
            )
        progress = StepProgress(self.step_name, self.replica)
        heartbeat = _Heartbeat(self, progress)
        try:
            committed = self._begin_attempt(progress, inputs)
            heartbeat.start()
            self.step.load()
            try:
                parts = self._execute_until_inputs_settle(progress, inputs, committed)
            finally:
                self.step.unload()
        except BaseException as error:
            heartbeat.stop()
            self.publish_failure(error)
            progress.log("failed")
            raise
        heartbeat.stop()
        summary = StepSummary(**progress.as_payload(), token_budget_reached=self._budget_reached)
        marker = {**self._identity(), "attempt": self.attempt, "batches": parts, "at": time.time(), **vars(summary)}
        self.data.write_marker("finished", marker, self.replica)
        progress.log("finished")
        return summary

    def _execute_until_inputs_settle(
        self, progress: StepProgress, inputs: dict[str, list[str | None]], committed: set[int]
    ) -> int:
        for _ in range(MAX_INPUT_RESTARTS):
            try:
                parts = self._execute(progress, inputs, committed)
                self._check_inputs_unchanged(inputs)
                return parts
            except InputRecomputedError as recomputed:
                logger.info("%s; step %s replica %d starts over.", recomputed, self.step_name, self.replica)
                progress.restart()
                inputs = self.input_generations()
                committed = self._begin_attempt(progress, inputs, force_new=True)
        raise RuntimeError(
            f"Step {self.step_name!r}: its inputs were recomputed {MAX_INPUT_RESTARTS} times while it ran; giving up."
        )

    def _check_inputs_unchanged(self, inputs: dict[str, list[str | None]]) -> None:
        """Raises :class:`InputRecomputedError` when a predecessor moved to a new generation since ``inputs``."""
        for predecessor, generations in self.input_generations().items():
            if generations != inputs[predecessor]:
                raise InputRecomputedError(self.step_name, predecessor)

    def claim_incarnation(self) -> None:
        """Makes this execution's incarnation the step's own before anything can fail.

        A Clear must recompute even when its first try fails before :meth:`run` (a GPU claim that
        timed out): the retry, which resumes, then finds an output that names no generation and
        no ``finished`` marker, so it computes a new one. Does nothing without an incarnation or
        when the step's marker already names it.
        """
        if self.incarnation is None:
            return
        previous = self.data.read_marker("started", self.replica)
        if previous is not None and previous.get("incarnation") == self.incarnation:
            return
        marker = {
            "fingerprint": self.fingerprint,
            "generation": None,
            "incarnation": self.incarnation,
            "inputs": {},
            "attempt": previous["attempt"] if previous is not None else 0,
            "heartbeat": None,
        }
        self.data.write_marker("started", marker, self.replica)
        self.data.delete_marker("finished", self.replica)
        if previous is not None and previous.get("generation") is not None:
            self.data.delete_generation(previous["generation"])

    def _identity(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "generation": self.generation,
            "incarnation": self._marker_incarnation,
            "inputs": self._inputs,
            "gpus": list(self.held_gpus),
        }

    def _begin_attempt(
        self, progress: StepProgress, inputs: dict[str, list[str | None]], *, force_new: bool = False
    ) -> set[int]:
        """Publishes ``started``; returns the sequences of the current generation already committed.

        The new ``started`` marker is written before ``failed``/``finished`` are withdrawn, so
        successors waiting for this retry never see a gap; a replaced generation's parts are
        deleted only once no marker names it.
        """
        previous = self.data.read_marker("started", self.replica)
        resumable = (
            not force_new
            and previous is not None
            and previous.get("generation") is not None
            and self._incarnation_matches(previous)
            and previous.get("inputs", {}) == inputs
        )
        committed: set[int] = set()
        if resumable:
            self.generation = previous["generation"]
            committed = {seq for seq in self.data.part_sequences(self.generation) if self._owns(seq)}
            rewrites_from_start = self.step.is_global or (self.step.is_generator and not self.step.resumes_from_offset)
            if committed and rewrites_from_start:
                # It starts over at its first part: in place, a shorter or different retry would
                # leave the failed attempt's parts behind, or mix two attempts' rows.
                resumable, committed = False, set()
        replaced = previous.get("generation") if previous is not None and not resumable else None
        if resumable:  # its committed parts' tokens, as its last heartbeat counted them
            progress.used_tokens(previous.get("input_tokens", 0), previous.get("output_tokens", 0))
        else:
            self.generation = new_generation()
        self._marker_incarnation = (
            previous.get("incarnation") if resumable and self.incarnation is None else self.incarnation
        )
        self._inputs = inputs
        self._budget_reached = False
        self.attempt = previous["attempt"] + 1 if previous is not None else 1
        self.publish_heartbeat(progress)
        self.data.delete_marker("failed", self.replica)
        self.data.delete_marker("finished", self.replica)
        if replaced is not None and replaced != self.generation:
            self.data.delete_generation(replaced)
        return committed

    def _owns(self, sequence: int) -> bool:
        return sequence % self.step_plan.replicas == self.replica

    def publish_heartbeat(self, progress: StepProgress) -> None:
        """Rewrites the ``started`` marker with the current time and progress."""
        marker = {**self._identity(), "attempt": self.attempt, "heartbeat": time.time(), **progress.as_payload()}
        self.data.write_marker("started", marker, self.replica)

    def publish_failure(self, error: BaseException, *, will_retry: bool | None = None) -> None:
        """Publishes this replica's ``failed`` marker, so its successors stop and name it.

        Call it on every way out of a failed attempt, also before :meth:`run` (a GPU claim that
        timed out, a predecessor that failed while this step waited for it to start). When this
        is not the final attempt and the error is the step's own (not a predecessor's), the
        marker says ``will_retry``: successors wait for the retry (see :func:`read_step_state`).
        ``will_retry`` overrides that when the caller knows better (Airflow will not retry, or the
        task was stopped by Airflow and may run again).
        """
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
        if will_retry is None:
            will_retry = not self.final_attempt and not isinstance(error, UpstreamFailedError)
        started = self.data.read_marker("started", self.replica) or {}
        now = time.time()
        marker = {
            "fingerprint": self.fingerprint,
            "generation": self.generation or started.get("generation"),
            "attempt": self.attempt or started.get("attempt", 0),
            "error": text,
            "will_retry": will_retry,
            "at": now,
            "retry_by": now + self.retry_delay,
        }
        self.data.write_marker("failed", marker, self.replica)

    def _execute(self, progress: StepProgress, inputs: dict[str, list[str | None]], committed: set[int]) -> int:
        """Processes the step's input; returns the number of parts the whole step has."""
        if self._router is not None:
            self._routes = RouteDecisions(
                self._router, self.step_plan.successors, self._router_state, single_batch=self.step.is_global
            )
        if self.step.is_generator:
            return self._run_generator(progress, committed)
        sources = [self._read_predecessor(predecessor, inputs[predecessor]) for predecessor in self.step_plan.predecessors]
        if self.step.is_global:
            return self._run_global(progress, global_step_inputs(self.step_plan, sources))
        batches = step_input_batches(self.step_plan, sources, self.step.input_batch_size)
        return self._run_normal(progress, batches, committed)

    def _write(self, sequence: int, rows: list[dict[str, Any]], routed_from: Route | None = None) -> None:
        metadata = part_metadata(self._routes, sequence, routed_from)
        self.data.write_part(self.generation, sequence, rows, metadata)

    def _run_generator(self, progress: StepProgress, committed: set[int]) -> int:
        sequence = 0
        offset = 0
        while sequence in committed:
            rows = len(self.data.read_part(self.generation, sequence) or [])
            progress.produced(rows)
            offset += rows
            sequence += 1
        outputs = self.step.process(offset) if self.step.resumes_from_offset else self.step.process()
        for item in outputs:
            if not isinstance(item, tuple) or len(item) != 2:
                raise TypeError(
                    f"Generator step {self.step_name!r}: process() must yield (rows, is_last) pairs,"
                    f" got {type(item).__name__}."
                )
            rows, is_last = item
            rows = self._checked_rows(rows, f"batch {sequence}")
            for part in chunked(self.step.rename_outputs(rows), self.step.batch_size):
                self._write(sequence, part)
                progress.produced(len(part))
                sequence += 1
            if is_last:
                break
        return sequence

    def _run_global(self, progress: StepProgress, sources: list[Iterator[list[dict[str, Any]]]]) -> int:
        inputs = []
        for source in sources:
            rows = [row for part in source for row in part]
            progress.consumed(len(rows))
            inputs.append(rows)
        outputs = self._collect(self.step.process_applying_mappings(*inputs), "its only batch")
        parts = 0
        for part in chunked(outputs, GLOBAL_OUTPUT_PART_ROWS):
            self._write(parts, part)
            progress.produced(len(part))
            parts += 1
        return parts

    def _run_normal(self, progress: StepProgress, batches: Iterator[InputBatch], committed: set[int]) -> int:
        """Processes the owned input batches, up to ``step.batches_in_flight()`` at once (see
        :mod:`~airflow_dististage.runtime.read_ahead`), and writes their parts in sequence order.

        A batch in flight when the step is killed was not written: the next attempt recomputes
        it. A token budget is checked before each batch is read, so up to ``batches_in_flight``
        batches already in flight still finish once it is reached.
        """
        parts = 0

        def jobs() -> Iterator[tuple[tuple[int, Route | None], Callable[[], Any] | None]]:
            # Every replica reads and decodes all predecessor parts, to cut the same input batches
            # as its siblings, and skips the batches it does not own.
            nonlocal parts
            for sequence, (batch, routed_from) in enumerate(batches):
                parts = sequence + 1
                if not self._owns(sequence):
                    continue
                if sequence in committed:
                    progress.consumed(sum(len(rows) for rows in batch))
                    progress.produced(len(self.data.read_part(self.generation, sequence) or []))
                    continue
                if self._budget_reached or self._stop_for_tokens(progress):
                    if self.step_plan.replicas == 1:
                        parts = sequence  # reads no more input: its parts end here
                        return
                    yield (sequence, None), None  # its siblings go on: every part must exist
                    continue
                progress.consumed(sum(len(rows) for rows in batch))
                yield (sequence, routed_from), functools.partial(self._process_batch, batch, sequence)

        for (sequence, routed_from), result in in_order(jobs(), self.step.batches_in_flight(), self.step_name):
            outputs, tokens = result if result is not None else ([], (0, 0))
            self._write(sequence, outputs, routed_from)
            progress.produced(len(outputs))
            progress.used_tokens(*tokens)
        return parts

    def _process_batch(
        self, batch: list[list[dict[str, Any]]], sequence: int
    ) -> tuple[list[dict[str, Any]], tuple[int, int]]:
        """The output rows of one input batch and the tokens its LLM used (taken in the thread that ran it)."""
        outputs = self._collect(self.step.process_applying_mappings(*batch), f"batch {sequence}")
        return outputs, self.token_budget.take()

    def _stop_for_tokens(self, progress: StepProgress) -> bool:
        """Whether a token budget is reached; logs why once it is."""
        reason = self.token_budget.reached(progress)
        if reason is None:
            return False
        self._budget_reached = True
        more = "reads no more input" if self.step_plan.replicas == 1 else "commits its remaining batches empty"
        logger.warning(
            "Step %s replica %d stops generating: %s. It keeps the %d rows it generated, %s and finishes.",
            self.step_name, self.replica, reason, progress.rows_out, more,
        )
        return True

    def _collect(self, batches: Iterable[Any], where: str) -> list[dict[str, Any]]:
        """The rows of every list ``process`` yielded for one input batch, checked to be rows."""
        rows: list[dict[str, Any]] = []
        for batch in batches:
            rows.extend(self._checked_rows(batch, where))
        return rows

    def _checked_rows(self, rows: Any, where: str) -> list[dict[str, Any]]:
        """``rows`` as a list, when it is a list, tuple or generator of dicts; else a TypeError naming the step."""
        if isinstance(rows, (str, bytes, dict)) or not isinstance(rows, (list, tuple, Iterator)):
            raise TypeError(
                f"Step {self.step_name!r} ({where}): process() must yield lists of rows (dicts), got"
                f" {type(rows).__name__}."
            )
        rows = list(rows)
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                raise TypeError(
                    f"Step {self.step_name!r} ({where}): row {index} is a {type(row).__name__}, not a dict;"
                    " process() must yield lists of rows (dicts)."
                )
        return rows

    def _read_predecessor(self, predecessor: str, generations: list[str | None]) -> Iterator[StoredPart]:
        """``predecessor``'s parts of ``generations`` (one per replica) in sequence order, waiting for
        each until it finished.

        Its markers are read whenever a part is missing and at least every
        ``_STATE_CHECK_SECONDS`` otherwise, so a slow reader of a failed predecessor stops
        within seconds instead of working through what was already written.

        Raises:
            InputRecomputedError: a replica of ``predecessor`` moved to another generation.
        """
        data = self.data_of(predecessor)
        replicas = len(generations)
        sequence = 0
        backoff = Backoff(self.poll_interval, _MAX_POLL_INTERVAL)
        checked_at = time.monotonic()
        finished_parts: int | None = None
        idle_since: float | None = None
        while True:
            if finished_parts is not None and sequence >= finished_parts:
                return  # a part past the finished count is a leftover, never output
            generation = generations[sequence % replicas]
            part = data.read_stored_part(generation, sequence) if generation is not None else None
            if part is None or time.monotonic() - checked_at >= _STATE_CHECK_SECONDS:
                state = self.state_of(predecessor)  # raises when it failed or died
                checked_at = time.monotonic()
                if any(now is not None and now != then for now, then in zip(state.generations, generations)):
                    raise InputRecomputedError(self.step_name, predecessor)
                finished_parts = state.parts
                if finished_parts is not None and sequence >= finished_parts:
                    return
            if part is None:
                if finished_parts is None:
                    idle_since = self._check_stall(predecessor, state, idle_since)
                    backoff.sleep()
                    continue
                part = data.read_stored_part(generation, sequence)  # parts are written before `finished`
                if part is None:
                    raise RuntimeError(
                        f"Step {predecessor!r} finished with {finished_parts} parts but part {sequence} is missing"
                        f" from {data.path}: its output was modified; rerun it."
                    )
            yield part
            sequence += 1
            idle_since = None
            backoff.reset()

    def _check_stall(self, predecessor: str, state: StepState, idle_since: float | None) -> float | None:
        """When ``predecessor`` is not running (a retry that waits, or gone), when that was first
        seen; raises once that is longer than ``stall_timeout`` ago."""
        if state.started or self.stall_timeout is None:
            return None
        now = time.monotonic()
        if idle_since is None:
            return now
        if now - idle_since > self.stall_timeout:
            raise UpstreamFailedError(
                predecessor,
                f"stopped running mid-stream and has not run again for {now - idle_since:.0f} s"
                f" (limit {self.stall_timeout:.0f} s).",
            )
        return idle_since


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
        if self._thread.ident is not None:  # an attempt can fail before its heartbeat started
            self._thread.join(timeout=30)

    def _beat(self) -> None:
        """Beats until stopped; a failed write (a brief store outage) is logged and the next beat retries."""
        while not self._stop.wait(self._execution.heartbeat_interval):
            try:
                self._execution.publish_heartbeat(self._progress)
            except Exception:  # noqa: BLE001 - the next beat retries; dying here would look like a dead step
                logger.warning("heartbeat of %r failed; trying again", self._execution, exc_info=True)
