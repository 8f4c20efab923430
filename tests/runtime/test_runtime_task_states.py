"""Readers wait exactly as long as Airflow may still run a predecessor: the task-state probe decides
when markers alone cannot (a retry that is late, a heartbeat that was withdrawn)."""

from __future__ import annotations

import threading
import time

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime import BatchStore, StepExecution, UpstreamFailedError
from airflow_dististage.steps import GeneratorStep
from tests.runtime.steps_for_tests import AddOne

REACTION_S = 10.0


class HalfThenCrash(GeneratorStep):
    """Yields one batch of ``{"n": 0..4}``, then raises."""

    @property
    def outputs(self) -> list[str]:
        return ["n"]

    def process(self, offset: int = 0):
        yield [{"n": n} for n in range(5)], False
        raise RuntimeError("generator crashed")


def _executions(store_path: str, states: dict[str, str | None]) -> tuple[StepExecution, StepExecution]:
    with Pipeline(name="probed") as pipeline:
        HalfThenCrash(name="gen", batch_size=5) >> AddOne(name="reader", input_batch_size=5)
    plan = pipeline.plan()
    store = BatchStore(store_path, pipeline.name, "run")
    generator = StepExecution(pipeline, plan, store, "gen", final_attempt=False, retry_delay=0.0)
    reader = StepExecution(
        pipeline, plan, store, "reader",
        heartbeat_interval=0.5, heartbeat_timeout=1.0, probe=lambda step, replica: states[step],
    )
    with pytest.raises(RuntimeError, match="generator crashed"):
        generator.run()  # publishes failed with will_retry
    return generator, reader


def test_a_late_retry_is_awaited_while_airflow_will_run_it(store_path: str) -> None:
    states: dict[str, str | None] = {"gen": "up_for_retry"}
    _, reader = _executions(store_path, states)
    time.sleep(1.5)  # past retry delay + heartbeat_timeout: markers alone would call it dead
    assert reader.predecessors_started()
    states["gen"] = "failed"
    with pytest.raises(UpstreamFailedError, match="'failed': it will not run again"):
        reader.predecessors_started()


def test_a_streaming_reader_of_a_step_that_withdrew_its_heartbeat_stops_when_airflow_gives_up(
    store_path: str,
) -> None:
    states: dict[str, str | None] = {"gen": "up_for_reschedule"}
    generator, reader = _executions(store_path, states)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            reader.run()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            errors.append(error)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    time.sleep(1.0)
    # The retry started, withdrew `failed`, then rescheduled itself: its marker has no heartbeat.
    generator.data.delete_marker("failed")
    generator.mark_not_running()
    time.sleep(2.0)
    assert thread.is_alive() and not errors  # Airflow will run it again: keep waiting
    states["gen"] = "upstream_failed"
    thread.join(REACTION_S)
    assert not thread.is_alive()
    assert isinstance(errors[0], UpstreamFailedError) and "'upstream_failed'" in str(errors[0])
    assert reader.is_failed()
