"""Retries and restarts of one step: will_retry failures, not-running markers, marker ordering,
heartbeat hiccups and slow successors of a failed predecessor."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime import BatchStore, StepExecution, UpstreamFailedError
from airflow_dististage.runtime.executor import lineage_fingerprints
from tests.runtime.conftest import committed_rows
from tests.runtime.steps_for_tests import AddOne, CrashOnce, Numbers
from tests.runtime.test_runtime_executor import _run_in_thread


def _flaky_chain(tmp_path: Path, count: int = 300) -> Pipeline:
    """gen >> flaky (raises once at n=150) >> after."""
    with Pipeline(name="retried") as pipeline:
        (
            Numbers(name="gen", count=count, batch_size=10)
            >> CrashOnce(
                name="flaky",
                crash_at=150,
                flag_path=str(tmp_path / "crashed"),
                log_path=str(tmp_path / "calls.log"),
                input_batch_size=10,
            )
            >> AddOne(name="after", input_batch_size=7)
        )
    return pipeline


def _fail_once_while_streaming(
    store_path: str, tmp_path: Path, *, count: int, heartbeat_timeout: float, retry_delay: float = 0.0
):
    """Runs gen, then flaky (a non-final attempt that crashes) with ``after`` streaming from it.

    Returns the pipeline, plan, store, flaky's thread and result, and after's thread and result.
    """
    pipeline = _flaky_chain(tmp_path, count=count)
    plan, store = pipeline.plan(), BatchStore(store_path, "retried", "run")
    StepExecution(pipeline, plan, store, "gen").run()
    flaky = StepExecution(
        pipeline, plan, store, "flaky", final_attempt=False, retry_delay=retry_delay, heartbeat_interval=0.1
    )
    after = StepExecution(pipeline, plan, store, "after", heartbeat_interval=0.1, heartbeat_timeout=heartbeat_timeout)
    (flaky_thread, failed), (after_thread, downstream) = _start_streaming(flaky, after)
    return pipeline, plan, store, flaky_thread, failed, after_thread, downstream


def _data(pipeline: Pipeline, plan, store: BatchStore, step: str):
    """The store files of ``step`` under its lineage."""
    return store.step(step, lineage_fingerprints(pipeline, plan)[step])


def _start_streaming(execution: StepExecution, successor: StepExecution):
    """Runs ``execution`` and, once it started, ``successor`` in threads."""
    first = _run_in_thread(execution)
    while not successor.predecessors_started():
        time.sleep(0.01)
    return first, _run_in_thread(successor)


def test_successor_waits_for_the_retry_of_a_failed_predecessor(store_path: str, tmp_path: Path) -> None:
    pipeline, plan, store, flaky_thread, failed, after_thread, downstream = _fail_once_while_streaming(
        store_path, tmp_path, count=300, heartbeat_timeout=5.0
    )
    flaky_thread.join(30)
    assert str(failed["error"]) == "simulated crash"
    marker = _data(pipeline, plan, store, "flaky").read_marker("failed")
    assert marker["will_retry"] is True and time.time() - marker["at"] < 10
    time.sleep(0.5)
    assert after_thread.is_alive(), downstream.get("error")

    StepExecution(pipeline, plan, store, "flaky").run()  # the retry
    after_thread.join(30)
    assert "error" not in downstream, downstream.get("error")
    assert (tmp_path / "calls.log").read_text().split() == [str(n) for n in range(0, 300, 10)]
    assert committed_rows(downstream["execution"]) == [{"n": n + 1} for n in range(300)]


def test_a_retry_that_does_not_come_fails_the_successor(store_path: str, tmp_path: Path) -> None:
    pipeline, plan, store, flaky_thread, _, after_thread, downstream = _fail_once_while_streaming(
        store_path, tmp_path, count=2000, heartbeat_timeout=2.0
    )
    flaky_thread.join(30)
    start = time.monotonic()
    after_thread.join(30)
    assert time.monotonic() - start < 5
    error = downstream["error"]
    assert isinstance(error, UpstreamFailedError) and error.step == "flaky"
    assert "failed (replica 0) and was not retried within 2 s" in str(error)
    assert _data(pipeline, plan, store, "after").read_marker("failed")["will_retry"] is False


def test_an_upstream_failure_is_never_marked_will_retry(store_path: str) -> None:
    with Pipeline(name="final") as pipeline:
        (
            Numbers(name="gen", count=2000, batch_size=10)
            >> AddOne(name="flaky", fail_at=300, delay=0.01, input_batch_size=10)
            >> AddOne(name="after", input_batch_size=7)
        )
    plan, store = pipeline.plan(), BatchStore(store_path, "final", "run")
    StepExecution(pipeline, plan, store, "gen").run()
    flaky = StepExecution(pipeline, plan, store, "flaky")
    after = StepExecution(pipeline, plan, store, "after", final_attempt=False)
    (flaky_thread, _), (after_thread, downstream) = _start_streaming(flaky, after)
    flaky_thread.join(30)
    after_thread.join(30)
    assert isinstance(downstream["error"], UpstreamFailedError)
    assert flaky.data.read_marker("failed")["will_retry"] is False
    assert after.data.read_marker("failed")["will_retry"] is False


def test_an_attempt_marked_not_running_waits_instead_of_looking_dead(store_path: str, tmp_path: Path) -> None:
    pipeline = _flaky_chain(tmp_path, count=200)
    plan, store = pipeline.plan(), BatchStore(store_path, "retried", "run")
    StepExecution(pipeline, plan, store, "gen").run()
    with pytest.raises(RuntimeError, match="simulated crash"):
        StepExecution(pipeline, plan, store, "flaky").run()
    flaky = _data(pipeline, plan, store, "flaky")
    flaky.delete_marker("failed")  # as if the process had been killed
    killed = flaky.read_marker("started")
    flaky.write_marker("started", {**killed, "heartbeat": time.time() - 1000})
    after = StepExecution(pipeline, plan, store, "after")
    with pytest.raises(UpstreamFailedError, match="stopped heartbeating"):
        after.predecessors_started()

    restarted = StepExecution(pipeline, plan, store, "flaky")
    restarted.mark_not_running()
    assert not after.predecessors_started()
    marker = flaky.read_marker("started")
    assert (marker["heartbeat"], marker["attempt"], marker["generation"]) == (None, 1, killed["generation"])
    restarted.run()
    assert flaky.read_marker("started")["attempt"] == 2
    assert restarted.generation == killed["generation"]  # resumed, not recomputed
    assert (tmp_path / "calls.log").read_text().split() == [str(n) for n in range(0, 200, 10)]


def test_slow_successor_of_a_failed_predecessor_stops_within_seconds(store_path: str) -> None:
    with Pipeline(name="slow-reader") as pipeline:
        (
            Numbers(name="gen", count=2000, batch_size=10)
            >> AddOne(name="breaks", fail_at=300, delay=0.005, input_batch_size=10)
            >> AddOne(name="slow", delay=0.5, input_batch_size=10)
        )
    plan, store = pipeline.plan(), BatchStore(store_path, "slow-reader", "run")
    StepExecution(pipeline, plan, store, "gen").run()
    breaks, slow = (StepExecution(pipeline, plan, store, name) for name in ("breaks", "slow"))
    (broken_thread, broken), (slow_thread, downstream) = _start_streaming(breaks, slow)
    broken_thread.join(30)
    slow_thread.join(30)
    assert breaks.data.part_sequences(breaks.generation) == list(range(30))
    assert isinstance(downstream["error"], UpstreamFailedError) and downstream["error"].step == "breaks"
    assert downstream["at"] - broken["at"] < 3
    assert len(slow.data.part_sequences(slow.generation)) < 10


class _CrashWhileDeletingParts(BatchStore):
    """A store whose process 'dies' (raises) when a replaced generation's parts are about to be removed."""

    def remove(self, path: str) -> None:
        if "/parts/" in path:
            raise KeyboardInterrupt("simulated crash while deleting parts")
        super().remove(path)


def test_a_crash_while_replacing_an_output_never_leaves_finished_without_parts(store_path: str) -> None:
    with Pipeline(name="stale") as pipeline:
        Numbers(name="gen", count=30, batch_size=10) >> AddOne(name="plus", input_batch_size=10)
    plan, store = pipeline.plan(), BatchStore(store_path, "stale", "run")
    StepExecution(pipeline, plan, store, "gen").run()
    StepExecution(pipeline, plan, store, "plus").run()

    crashing = _CrashWhileDeletingParts(store_path, "stale", "run")
    recompute = StepExecution(pipeline, plan, crashing, "plus", incarnation="cleared")
    with pytest.raises(KeyboardInterrupt):
        recompute.run()  # crashes after pointing `started` at a new generation, before its first part
    assert recompute.data.read_marker("finished") is None

    resumed = StepExecution(pipeline, plan, store, "plus")
    assert not resumed.is_finished()
    resumed.run()
    assert committed_rows(resumed) == [{"n": n + 1} for n in range(30)]


class _HeartbeatHiccup(BatchStore):
    """A store whose second ``started`` write fails once, like a brief object-store outage."""

    started_writes = 0

    def write_atomic(self, path: str, data: bytes) -> None:
        if path.endswith("/markers/started-0.json"):
            type(self).started_writes += 1
            if type(self).started_writes == 2:
                raise OSError("503 Slow Down")
        super().write_atomic(path, data)


def test_one_failed_heartbeat_write_does_not_stop_the_heartbeat(store_path: str) -> None:
    with Pipeline(name="hiccup") as pipeline:
        (
            Numbers(name="gen", count=40, batch_size=10)
            >> AddOne(name="slow", delay=0.5, input_batch_size=10)
            >> AddOne(name="after")
        )
    plan, store = pipeline.plan(), BatchStore(store_path, "hiccup", "run")
    StepExecution(pipeline, plan, store, "gen").run()
    flaky_store = _HeartbeatHiccup(store_path, "hiccup", "run")
    slow = StepExecution(pipeline, plan, flaky_store, "slow", heartbeat_interval=0.1, heartbeat_timeout=0.8)
    thread, outcome = _run_in_thread(slow)
    time.sleep(1.5)
    assert thread.is_alive()
    successor = StepExecution(pipeline, plan, store, "after", heartbeat_timeout=0.8, heartbeat_interval=0.1)
    assert successor.predecessors_started()  # raises "stopped heartbeating" if the heartbeat died
    thread.join(30)
    assert "summary" in outcome
    assert _HeartbeatHiccup.started_writes > 3


def test_successors_wait_out_the_announced_retry_delay(store_path: str, tmp_path: Path) -> None:
    pipeline, plan, store, flaky_thread, _, after_thread, downstream = _fail_once_while_streaming(
        store_path, tmp_path, count=2000, heartbeat_timeout=1.0, retry_delay=3.0
    )
    flaky_thread.join(30)
    failed_at = _data(pipeline, plan, store, "flaky").read_marker("failed")["at"]
    after_thread.join(30)
    waited = time.time() - failed_at
    assert 3.0 <= waited < 8.0, f"gave up {waited:.1f} s after the failure; the retry was due within 3 s"
    assert isinstance(downstream["error"], UpstreamFailedError)
