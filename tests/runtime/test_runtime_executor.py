"""StepExecution on its own: failure propagation, dead predecessors, resume, idempotence."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime import BatchStore, StepExecution, UpstreamFailedError
from airflow_dististage.steps import StepResources
from tests.runtime.conftest import committed_rows
from tests.runtime.steps_for_tests import AddOne, CrashOnce, Numbers


def _run_in_thread(execution: StepExecution) -> tuple[threading.Thread, dict]:
    outcome: dict = {"execution": execution}

    def target() -> None:
        try:
            outcome["summary"] = execution.run()
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            outcome["error"] = error
        outcome["at"] = time.monotonic()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def test_successor_stops_within_seconds_naming_the_failed_predecessor(store_path: str) -> None:
    with Pipeline(name="propagate") as pipeline:
        (
            Numbers(name="gen", count=5000, batch_size=10)
            >> AddOne(name="breaks", fail_at=200, delay=0.01, input_batch_size=10)
            >> AddOne(name="after", input_batch_size=10)
        )
    plan = pipeline.plan()
    store = BatchStore(store_path, pipeline.name, "run")
    gen, breaks, after = (StepExecution(pipeline, plan, store, name) for name in ("gen", "breaks", "after"))
    gen.run()
    broken_thread, broken = _run_in_thread(breaks)
    while not after.predecessors_started():
        time.sleep(0.01)
    after_thread, downstream = _run_in_thread(after)
    broken_thread.join(30)
    after_thread.join(30)
    assert isinstance(broken["error"], ValueError)
    assert isinstance(downstream["error"], UpstreamFailedError)
    assert downstream["error"].step == "breaks"
    assert "Predecessor step 'breaks' failed (replica 0): ValueError: boom at n=200" in str(downstream["error"])
    assert downstream["at"] - broken["at"] < 3
    assert breaks.data.read_marker("failed")["error"] == "ValueError: boom at n=200"
    assert "UpstreamFailedError" in after.data.read_marker("failed")["error"]
    with pytest.raises(UpstreamFailedError, match="'breaks' failed"):
        after.predecessors_started()


def test_successor_detects_a_predecessor_that_stopped_heartbeating(store_path: str) -> None:
    with Pipeline(name="dead") as pipeline:
        Numbers(name="gen", count=10) >> AddOne(name="next")
    plan = pipeline.plan()
    store = BatchStore(store_path, pipeline.name, "run")
    successor = StepExecution(pipeline, plan, store, "next", heartbeat_interval=0.1, heartbeat_timeout=1.0)
    generator = StepExecution(pipeline, plan, store, "gen")
    assert not successor.predecessors_started()
    generator.data.write_marker("started", {"generation": "0a", "attempt": 1, "heartbeat": time.time()})
    assert successor.predecessors_started()
    start = time.monotonic()
    with pytest.raises(UpstreamFailedError, match=r"'gen' stopped heartbeating"):
        successor.run()
    assert time.monotonic() - start < 5


def test_run_refuses_to_start_before_its_predecessors(store_path: str) -> None:
    with Pipeline(name="early") as pipeline:
        Numbers(name="gen") >> AddOne(name="next")
    execution = StepExecution(pipeline, pipeline.plan(), BatchStore(store_path, "early", "run"), "next")
    with pytest.raises(RuntimeError, match="not every predecessor"):
        execution.run()


def test_crashed_step_resumes_after_its_last_committed_part(store_path: str, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    with Pipeline(name="resume") as pipeline:
        Numbers(name="gen", count=100, batch_size=30) >> CrashOnce(
            name="crashy", crash_at=55, flag_path=str(tmp_path / "crashed"), log_path=str(log), input_batch_size=10
        )
    plan = pipeline.plan()
    store = BatchStore(store_path, pipeline.name, "run")
    StepExecution(pipeline, plan, store, "gen").run()
    crashy = StepExecution(pipeline, plan, store, "crashy")
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashy.run()
    assert crashy.data.part_sequences(crashy.generation) == [0, 1, 2, 3, 4]
    resumed = StepExecution(pipeline, plan, store, "crashy")
    summary = resumed.run()
    assert resumed.generation == crashy.generation
    assert log.read_text().split() == [str(n) for n in range(0, 100, 10)]
    assert resumed.data.read_marker("started")["attempt"] == 2
    assert (summary.batches_in, summary.rows_in, summary.batches_out, summary.rows_out) == (10, 100, 10, 100)
    assert resumed.data.read_marker("finished")["rows_out"] == 100
    assert committed_rows(resumed) == [{"n": n} for n in range(100)]


def test_finished_step_is_not_run_again(store_path: str, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    with Pipeline(name="idempotent") as pipeline:
        Numbers(name="gen", count=20, batch_size=10) >> CrashOnce(
            name="logged", crash_at=-1, flag_path=str(tmp_path / "f"), log_path=str(log), input_batch_size=10
        )
    plan = pipeline.plan()
    store = BatchStore(store_path, pipeline.name, "run")
    StepExecution(pipeline, plan, store, "gen").run()
    first = StepExecution(pipeline, plan, store, "logged").run()
    again = StepExecution(pipeline, plan, store, "logged")
    assert again.is_finished()
    assert again.run() == first
    assert log.read_text().split() == ["0", "10"]


def test_replicas_share_the_batches_of_one_step(store_path: str) -> None:
    with Pipeline(name="threads") as pipeline:
        (
            Numbers(name="gen", count=53, batch_size=4)
            >> AddOne(name="plus", input_batch_size=5, resources=StepResources(replicas=2))
            >> AddOne(name="after", input_batch_size=3)
        )
    plan = pipeline.plan()
    store = BatchStore(store_path, pipeline.name, "run")
    executions = [StepExecution(pipeline, plan, store, "gen")]
    executions += [StepExecution(pipeline, plan, store, "plus", replica) for replica in (1, 0)]
    executions.append(StepExecution(pipeline, plan, store, "after"))
    executions[0].run()
    started = [_run_in_thread(execution) for execution in executions[1:3]]
    while not executions[3].predecessors_started():
        time.sleep(0.01)
    started.append(_run_in_thread(executions[3]))
    for thread, _ in started:
        thread.join(30)
    summaries = [outcome["summary"] for _, outcome in started]
    assert [s.batches_in for s in summaries[:2]] == [5, 6]
    assert committed_rows(executions[3]) == [{"n": n + 2} for n in range(53)]


def test_bad_replica_and_step_are_rejected(store_path: str) -> None:
    with Pipeline(name="bad") as pipeline:
        Numbers(name="gen") >> AddOne(name="next")
    plan, store = pipeline.plan(), BatchStore(store_path, "bad", "run")
    with pytest.raises(ValueError, match="replica 1 does not exist"):
        StepExecution(pipeline, plan, store, "next", replica=1)
    with pytest.raises(ValueError, match="'nope' is not in the plan"):
        StepExecution(pipeline, plan, store, "nope")


def test_a_process_yielding_something_else_than_lists_of_rows_is_named(store_path: str) -> None:
    from airflow_dististage.steps import StepInput, step

    @step(inputs=["n"], outputs=["n"])
    def YieldsRows(inputs: StepInput):
        yield from inputs

    with Pipeline(name="bad-yield") as pipeline:
        Numbers(name="gen", count=3) >> YieldsRows(name="wrong")
    plan, store = pipeline.plan(), BatchStore(store_path, "bad-yield", "run")
    StepExecution(pipeline, plan, store, "gen").run()
    wrong = StepExecution(pipeline, plan, store, "wrong")
    with pytest.raises(TypeError, match=r"Step 'wrong' \(batch 0\): process\(\) must yield lists of rows \(dicts\), got dict"):
        wrong.run()
    assert "TypeError" in wrong.data.read_marker("failed")["error"]
