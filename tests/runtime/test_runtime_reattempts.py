"""Re-attempts never mix attempts: a global step's retry starts a new output, a Clear whose first try
fails early still recomputes, an unreadable task state falls back to the retry deadline, and exactly
one replica recomputes stale same-stage successors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from airflow_dististage.compiler.tasks import CompiledPipeline
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime import BatchStore, StepExecution, UpstreamFailedError
from airflow_dististage.steps import GlobalStep, StepInput, StepResources
from tests.runtime.steps_for_tests import AddOne, Numbers


class ShrinkingSample(GlobalStep):
    """Keeps every row on its first attempt, which then fails while unloading; keeps 1,200 rows after."""

    flag: str = ""

    @property
    def inputs(self) -> list[str]:
        return ["n"]

    @property
    def outputs(self) -> list[str]:
        return ["n"]

    def process(self, inputs: StepInput):
        yield inputs if not os.path.exists(self.flag) else inputs[:1200]

    def unload(self) -> None:
        if not os.path.exists(self.flag):
            Path(self.flag).touch()
            raise RuntimeError("failed after writing its parts")


def _store(store_path: str, pipeline: Pipeline) -> BatchStore:
    return BatchStore(store_path, pipeline.name, "run")


def test_a_global_steps_retry_never_leaves_parts_of_the_failed_attempt(store_path: str, tmp_path: Path) -> None:
    with Pipeline(name="global-retry") as pipeline:
        (
            Numbers(name="gen", count=2500, batch_size=500)
            >> ShrinkingSample(name="sample", flag=str(tmp_path / "failed-once"))
            >> AddOne(name="after", input_batch_size=500)
        )
    plan, store = pipeline.plan(), _store(store_path, pipeline)
    StepExecution(pipeline, plan, store, "gen").run()
    first = StepExecution(pipeline, plan, store, "sample", final_attempt=False)
    with pytest.raises(RuntimeError, match="failed after writing its parts"):
        first.run()  # wrote 3 parts (2,500 rows), no `finished`
    retry = StepExecution(pipeline, plan, store, "sample")
    assert retry.run().rows_out == 1200
    assert retry.generation != first.generation
    assert StepExecution(pipeline, plan, store, "after").run().rows_in == 1200


def _two_steps(store_path: str) -> tuple[Pipeline, BatchStore]:
    with Pipeline(name="reattempts") as pipeline:
        Numbers(name="gen", count=20, batch_size=5) >> AddOne(name="add", input_batch_size=5)
    return pipeline, _store(store_path, pipeline)


def test_a_clear_whose_first_try_fails_before_running_still_recomputes(store_path: str) -> None:
    pipeline, store = _two_steps(store_path)
    plan = pipeline.plan()
    StepExecution(pipeline, plan, store, "gen").run()
    before = StepExecution(pipeline, plan, store, "add")
    before.run()
    cleared = StepExecution(pipeline, plan, store, "add", incarnation="first-try-after-the-clear")
    cleared.claim_incarnation()  # the task's first action; then, say, its GPU claim timed out
    retry = StepExecution(pipeline, plan, store, "add")  # the retry resumes whatever is there
    assert not retry.is_finished()
    assert retry.run().rows_out == 20
    assert retry.generation != before.generation


def test_an_unreadable_task_state_falls_back_to_the_retry_deadline(store_path: str) -> None:
    pipeline, store = _two_steps(store_path)
    plan = pipeline.plan()

    def unreadable(step: str, replica: int) -> str | None:
        raise LookupError("task states cannot be read")

    failing = StepExecution(pipeline, plan, store, "gen", final_attempt=False, retry_delay=0.0)
    failing.publish_failure(RuntimeError("boom"))  # announces a retry that never comes
    reader = StepExecution(
        pipeline, plan, store, "add", heartbeat_interval=0.5, heartbeat_timeout=1.0, probe=unreadable
    )
    assert reader.predecessors_started()  # within the deadline: waiting for the retry
    time.sleep(1.5)
    with pytest.raises(UpstreamFailedError, match="was not retried within 1 s"):
        reader.predecessors_started()


def test_exactly_one_replica_is_elected_to_recompute_successors(store_path: str) -> None:
    with Pipeline(name="election") as pipeline:
        Numbers(name="gen", count=40, batch_size=5) >> AddOne(
            name="add", input_batch_size=5, resources=StepResources(replicas=3)
        )
    plan, store = pipeline.plan(), _store(store_path, pipeline)
    StepExecution(pipeline, plan, store, "gen").run()
    replicas = [StepExecution(pipeline, plan, store, "add", replica) for replica in range(3)]
    replicas[0].run()
    assert not any(CompiledPipeline._elected_to_recompute(execution) for execution in replicas)
    replicas[2].run()
    replicas[1].run()
    elected = [execution.replica for execution in replicas if CompiledPipeline._elected_to_recompute(execution)]
    assert elected == [1]  # the last to finish
