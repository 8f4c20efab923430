"""End to end on a real Airflow: runs triggered through the REST API, checked from the API and the store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from airflow_dististage.devstack import AirflowApi, AirflowApiError, AirflowDevStack
from airflow_dististage.distiset import Distiset
from tests.airflow.conftest import GPU_POOL, RUNS

pytestmark = pytest.mark.airflow

SEED_STAGES = [["load_data_from_dicts_0", "dummy_step_0"], ["global_dummy_step_0"], ["dummy_step_1"]]
STANDIN_STAGES = [["slow_rows", "gpu_a", "gpu_b"], ["collect"], ["add_suffix"]]
PUBLISH_TASK = "publish_distiset"
FAIL_FAST_S = 90.0
STANDIN_ROWS = 18  # ROWS in dags/standin_pipelines.py


def _intervals(api: AirflowApi, dag_id: str, run_id: str) -> dict[str, tuple[datetime, datetime]]:
    return {
        ti["task_id"]: (_time(ti["start_date"]), _time(ti["end_date"]))
        for ti in api.task_instances(dag_id, run_id)
        if ti["state"] == "success"
    }


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _assert_stages_in_order(intervals: dict[str, tuple[datetime, datetime]], stages: list[list[str]]) -> None:
    sequence = [*stages, [PUBLISH_TASK]]
    for before, after in zip(sequence, sequence[1:]):
        last_end = max(intervals[name][1] for name in before)
        first_start = min(intervals[name][0] for name in after)
        assert last_end <= first_start, f"stage {after} started at {first_start} before {before} ended at {last_end}"


def _overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _distiset(api: AirflowApi, output_folder: str, dag_id: str, run_id: str) -> Distiset:
    """The Distiset the run published, after checking it sits at <output>/<dag_id>/<run_id>."""
    published = api.xcom(dag_id, run_id, PUBLISH_TASK)
    assert published["path"] == f"{output_folder}/{dag_id}/{run_id}"
    return Distiset.load_from_disk(published["path"])


def _rows(distiset: Distiset) -> list[dict[str, Any]]:
    (dataset,) = distiset.values()
    return [row for split in dataset.values() for row in split]


def test_example_dags_import_without_errors(airflow_stack: AirflowDevStack) -> None:
    listing = airflow_stack.run_cli("dags", "list-import-errors", "--output", "json").stdout
    assert json.loads(listing.strip().splitlines()[-1]) == []


def test_seed_run_succeeds_in_stage_order_with_its_conf(api: AirflowApi, output_folder: str, wait_for: Any) -> None:
    seed = RUNS["seed"]
    run = wait_for("seed")
    assert run["state"] == "success"
    assert run["conf"] == seed.conf
    _assert_stages_in_order(_intervals(api, seed.dag_id, seed.run_id), SEED_STAGES)
    generator = api.xcom(seed.dag_id, seed.run_id, "load_data_from_dicts_0")
    assert (generator["rows_out"], generator["batches_out"]) == (50, 8), "batch_size=7 from conf: 8 batches"
    rows = _rows(_distiset(api, output_folder, seed.dag_id, seed.run_id))
    assert rows == [{"instruction": "Hi", "response": "HI"}] * 50


def test_stage_tasks_stream_together(api: AirflowApi, wait_for: Any) -> None:
    standin = RUNS["standin"]
    assert wait_for("standin")["state"] == "success"
    intervals = _intervals(api, standin.dag_id, standin.run_id)
    _assert_stages_in_order(intervals, STANDIN_STAGES)
    assert _overlap(intervals["slow_rows"], intervals["gpu_a"]), intervals


def test_gpu_tasks_never_exceed_the_pool(api: AirflowApi, output_folder: str, wait_for: Any) -> None:
    standin = RUNS["standin"]
    assert wait_for("standin")["state"] == "success"
    slots = api.request("GET", f"/api/v2/pools/{GPU_POOL}")["slots"]
    gpu_tasks = [ti for ti in api.task_instances(standin.dag_id, standin.run_id) if ti["pool"] == GPU_POOL]
    assert sorted((ti["task_id"], ti["pool_slots"]) for ti in gpu_tasks) == [("gpu_a", 1), ("gpu_b", 1)]
    events = sorted(
        [(_time(ti["start_date"]), +ti["pool_slots"]) for ti in gpu_tasks]
        + [(_time(ti["end_date"]), -ti["pool_slots"]) for ti in gpu_tasks]
    )
    held = 0
    for _, change in events:
        held += change
        assert held <= slots, f"GPU tasks held {held} slots of {slots}: {gpu_tasks}"

    rows = _rows(_distiset(api, output_folder, standin.dag_id, standin.run_id))
    assert {row["gpu_a_devices"] for row in rows} == {row["gpu_b_devices"] for row in rows} == {"0"}
    assert min(row["gpu_b_started"] for row in rows) >= max(row["gpu_a_ended"] for row in rows)


def test_steps_stream_batches_through_the_store(api: AirflowApi, output_folder: str, wait_for: Any) -> None:
    standin = RUNS["standin"]
    assert wait_for("standin")["state"] == "success"
    rows = _rows(_distiset(api, output_folder, standin.dag_id, standin.run_id))
    first_processed = min(row["gpu_a_started"] for row in rows)
    last_generated = max(row["generated_at"] for row in rows)
    assert first_processed < last_generated, "gpu_a processed nothing before the generator finished"


def test_run_conf_overrides_step_params(api: AirflowApi, output_folder: str, wait_for: Any) -> None:
    standin = RUNS["standin"]
    assert wait_for("standin")["state"] == "success"
    rows = _rows(_distiset(api, output_folder, standin.dag_id, standin.run_id))
    assert sorted(row["text"] for row in rows) == sorted(f"row{index}++-conf" for index in range(STANDIN_ROWS))


def test_wrong_param_type_is_refused_at_trigger(api: AirflowApi) -> None:
    with pytest.raises(AirflowApiError) as refused:
        api.trigger_run("seed_pipeline", conf={"load_data_from_dicts_0__batch_size": "many"}, run_id="e2e_bad_conf")
    assert refused.value.status == 400
    assert "load_data_from_dicts_0__batch_size" in str(refused.value.detail)
    with pytest.raises(AirflowApiError) as missing:
        api.get_run("seed_pipeline", "e2e_bad_conf")
    assert missing.value.status == 404


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pool_missing", ["'dististage_missing_pool' does not exist", "'gpu_step': 1"]),
        ("pool_too_small", [f"{GPU_POOL!r} has 1 slot(s)", "'gpu_step': 2"]),
    ],
)
def test_unfit_gpu_pool_fails_the_run_fast(api: AirflowApi, wait_for: Any, name: str, expected: list[str]) -> None:
    triggered = RUNS[name]
    run = wait_for(name)
    assert run["state"] == "failed"
    assert (_time(run["end_date"]) - _time(run["start_date"])).total_seconds() < FAIL_FAST_S
    states = {ti["task_id"]: ti["state"] for ti in api.task_instances(triggered.dag_id, triggered.run_id)}
    assert states["check_gpu_pool"] == "failed"
    assert states["gpu_step"] == "upstream_failed"
    log = api.task_log(triggered.dag_id, triggered.run_id, "check_gpu_pool")
    for fragment in expected:
        assert fragment in log
