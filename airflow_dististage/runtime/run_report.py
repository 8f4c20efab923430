"""A run's progress read from its store: per stage, step and replica, from markers alone.

Cheap enough to compute every few seconds on object storage: the run manifest
(:mod:`~airflow_dististage.runtime.manifest`) plus at most three small marker reads per replica;
no part is read (:mod:`~airflow_dististage.runtime.row_preview` reads a step's first parts).

A replica's state: ``finished``; ``failed``; ``retrying`` (failed, a retry announced); ``running``
(its ``started`` marker heartbeats); ``waiting`` (an attempt began but does not run now, e.g. it
waits for its predecessors); ``not started``. Counters come from the ``finished`` marker, else
from the last heartbeat, so a running step's figures are at most one heartbeat old.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow_dististage.runtime.manifest import RunManifest, read_run_manifest

if TYPE_CHECKING:
    from airflow_dististage.planning import StepPlan
    from airflow_dististage.runtime.store import BatchStore, StepData

_COUNTERS = ("batches_in", "rows_in", "batches_out", "rows_out")
_TOKENS = ("input_tokens", "output_tokens")
STEP_STATE_ORDER = ("failed", "retrying", "running", "waiting", "not started", "finished")
"""A step whose replicas differ shows the first of their states in this order (see :attr:`StepReport.state`)."""
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class ReplicaReport:
    """One replica of a step: its state, counters and the attempt its markers describe.

    ``input_tokens``/``output_tokens`` are None unless the step reports them; ``gpus`` are the
    device ids it holds (or held, once finished); ``attempt``, ``generation`` and ``incarnation``
    tell which computation of the output the markers describe (a retry that resumes keeps the
    generation; a recomputation gets a new one; a Clear a new incarnation); ``parts`` is the
    step's part count its ``finished`` marker states.
    """

    replica: int
    state: str
    batches_in: int = 0
    rows_in: int = 0
    batches_out: int = 0
    rows_out: int = 0
    seconds: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    gpus: tuple[int | str, ...] = ()
    attempt: int | None = None
    generation: str | None = None
    incarnation: str | None = None
    heartbeat_age: float | None = None
    error: str | None = None
    parts: int | None = None

    @property
    def rows_per_second(self) -> float | None:
        return self.rows_out / self.seconds if self.seconds > 0 else None


@dataclass(frozen=True)
class StepReport:
    """One step: its plan entry and a report per replica, with totals over the replicas."""

    name: str
    kind: str
    stage: int
    gpus_per_replica: int
    replicas: tuple[ReplicaReport, ...]

    @property
    def state(self) -> str:
        """The replicas' common state; else ``running`` once any replica runs or finished, else the
        first of their states in :data:`STEP_STATE_ORDER`."""
        states = {replica.state for replica in self.replicas}
        if len(states) > 1 and not states & {"failed", "retrying"} and states & {"running", "finished"}:
            return "running"
        return min(states, key=STEP_STATE_ORDER.index)

    def total(self, counter: str) -> int | None:
        """The sum of ``counter`` over the replicas; None for a token count no replica reports."""
        values = [getattr(replica, counter) for replica in self.replicas]
        present = [value for value in values if value is not None]
        return sum(present) if present or counter not in _TOKENS else None

    @property
    def generations(self) -> list[str | None]:
        """Per replica, the generation of the output its markers describe (None before it began)."""
        return [replica.generation for replica in self.replicas]

    @property
    def parts(self) -> int | None:
        """The step's part count once every replica finished, else None."""
        return max(replica.parts or 0 for replica in self.replicas) if self.state == "finished" else None

    @property
    def seconds(self) -> float:
        """How long the step has run: its replicas run together, so the longest of theirs."""
        return max(replica.seconds for replica in self.replicas)

    @property
    def rows_per_second(self) -> float | None:
        rows = self.total("rows_out") or 0
        return rows / self.seconds if self.seconds > 0 else None

    def as_dict(self) -> dict[str, Any]:
        """The step as JSON-ready data: totals, rate, state and each replica."""
        return {
            "name": self.name,
            "kind": self.kind,
            "stage": self.stage,
            "state": self.state,
            "gpus_per_replica": self.gpus_per_replica,
            **{counter: self.total(counter) for counter in (*_COUNTERS, *_TOKENS)},
            "seconds": round(self.seconds, 3),
            "rows_per_second": _rounded(self.rows_per_second),
            "replicas": [
                {**asdict(replica), "gpus": list(replica.gpus), "rows_per_second": _rounded(replica.rows_per_second)}
                for replica in self.replicas
            ],
        }


@dataclass(frozen=True)
class StageReport:
    """One load stage and its steps in plan order."""

    index: int
    is_global: bool
    steps: tuple[StepReport, ...]

    @property
    def state(self) -> str:
        return _overall(step.state for step in self.steps)


@dataclass(frozen=True)
class RunReport:
    """A run as its store describes it: stages in order, each step's state and figures."""

    pipeline_name: str
    run_id: str
    stages: tuple[StageReport, ...]

    @property
    def state(self) -> str:
        return _overall(stage.state for stage in self.stages)

    @property
    def steps(self) -> dict[str, StepReport]:
        return {step.name: step for stage in self.stages for step in stage.steps}

    def as_dict(self) -> dict[str, Any]:
        """The run as JSON-ready data (what the run view's data route answers)."""
        return {
            "pipeline_name": self.pipeline_name,
            "run_id": self.run_id,
            "state": self.state,
            "stages": [
                {
                    "index": stage.index,
                    "is_global": stage.is_global,
                    "state": stage.state,
                    "steps": [step.as_dict() for step in stage.steps],
                }
                for stage in self.stages
            ],
        }


def read_run_report(store: BatchStore, now: float | None = None) -> RunReport | None:
    """The report of ``store``'s run, or None while no step of it has published the run manifest.

    Raises:
        ValueError: the run's manifest cannot be read.
    """
    manifest = read_run_manifest(store)
    if manifest is None:
        return None
    return report_from_manifest(store, manifest, time.time() if now is None else now)


def report_from_manifest(store: BatchStore, manifest: RunManifest, now: float) -> RunReport:
    """The report of ``store``'s run whose manifest is ``manifest``, as of time ``now``."""
    plan = manifest.plan
    stages = []
    for stage in plan.stages:
        steps = []
        for name in stage.steps:
            data = store.step(name, manifest.fingerprints[name])
            steps.append(step_report(data, plan.steps[name], now))
        stages.append(StageReport(index=stage.index, is_global=stage.is_global, steps=tuple(steps)))
    return RunReport(pipeline_name=plan.pipeline_name, run_id=store.run_id, stages=tuple(stages))


def step_report(data: StepData, step_plan: StepPlan, now: float) -> StepReport:
    """``data``'s step as its replicas' markers describe it at time ``now``."""
    replicas = tuple(replica_report(data, replica, now) for replica in range(step_plan.replicas))
    return StepReport(
        name=step_plan.name,
        kind=step_plan.kind,
        stage=step_plan.stage,
        gpus_per_replica=step_plan.gpus_per_replica,
        replicas=replicas,
    )


def replica_report(data: StepData, replica: int, now: float) -> ReplicaReport:
    """One replica's state and figures from its markers (see the module docstring)."""
    finished = data.read_marker("finished", replica)
    if finished is not None:
        return _from_marker(replica, "finished", finished, finished, parts=_count(finished.get("batches")))
    failed = data.read_marker("failed", replica)
    started = data.read_marker("started", replica)
    heartbeat = (started or {}).get("heartbeat")
    if failed is not None:
        state = "retrying" if failed.get("will_retry") else "failed"
        error = str(failed.get("error") or "")[:MAX_ERROR_CHARS] or None
        return _from_marker(replica, state, started or {}, failed, error=error)
    if started is None:
        return ReplicaReport(replica=replica, state="not started")
    age = None if heartbeat is None else max(0.0, now - heartbeat)
    return _from_marker(replica, "waiting" if heartbeat is None else "running", started, started, heartbeat_age=age)


def _from_marker(
    replica: int, state: str, counters: dict[str, Any], identity: dict[str, Any], **extra: Any
) -> ReplicaReport:
    """A report whose figures come from marker ``counters`` and whose attempt from marker ``identity``."""
    return ReplicaReport(
        replica=replica,
        state=state,
        **{counter: _count(counters.get(counter)) or 0 for counter in _COUNTERS},
        seconds=float(counters.get("seconds") or 0.0),
        **{counter: _count(counters.get(counter)) for counter in _TOKENS},
        gpus=tuple(counters.get("gpus") or ()),
        **{key: _first(identity.get(key), counters.get(key)) for key in ("attempt", "generation", "incarnation")},
        **extra,
    )


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _overall(states: Any) -> str:
    """The state of a group (stage or run) from its members' states."""
    states = set(states)
    if states == {"finished"}:
        return "finished"
    for state in ("failed", "retrying", "running"):
        if state in states:
            return state
    return "running" if "finished" in states else min(states, key=STEP_STATE_ORDER.index)
