"""The package's DAGs on a real Celery cluster: rows as on one machine, GPU placement, faults, isolation.

Every run is checked by its exact rows against ``pipeline.run()`` on this machine (0 lost, 0 duplicated),
and by what Airflow's REST API says about where each task ran.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

import pytest

from airflow_dististage.devstack.cluster import AirflowCluster, CeleryWorker
from airflow_dististage.devstack.services import S3_ACCESS_KEY, S3_SECRET_KEY
from tests.cluster.conftest import CONN_ID, GPU_POOL_SLOTS, STORE, published_rows, run_and_wait, wait
from tests.cluster.dags import cluster_pipelines

pytestmark = pytest.mark.cluster

GPU_STEP = "on_gpu"
GPU_POOL = "dististage_gpu"
WHERE_COLUMNS = ("gpu_where",)
MID_STREAM_PARTS = 2
MID_STREAM_TIMEOUT_S = 90.0
SHARED_HOST_ATTEMPTS = 2


def _comparable(rows: list[dict[str, Any]]) -> list[str]:
    """The rows without the columns that record where they ran, as sorted JSON (a multiset of rows)."""
    return sorted(json.dumps({k: v for k, v in row.items() if k not in WHERE_COLUMNS}, sort_keys=True) for row in rows)


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch) -> list[str]:
    """``cluster_main``'s pipeline run on this machine, with two stand-in GPUs."""
    monkeypatch_module.setenv("DISTISTAGE_GPUS", "0,1")
    monkeypatch_module.setenv("DISTISTAGE_GPU_LOCK_DIR", str(tmp_path_factory.mktemp("locks")))
    folder = tmp_path_factory.mktemp("local-store")
    distiset = cluster_pipelines.main_pipeline().run(storage_parameters={"path": str(folder)}, use_cache=False)
    (dataset,) = distiset.values()
    rows = [row for split in dataset.values() for row in split]
    assert len(rows) == cluster_pipelines.ROWS
    return _comparable(rows)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def _parts(s3: Any, dag_id: str, run_id: str, step: str) -> int:
    bucket_path = STORE.removeprefix("s3://")
    return len(s3.glob(f"{bucket_path}/{dag_id}/{run_id}/{step}/*/parts/*.arrow", refresh=True))


def _wait_mid_stream(cluster: AirflowCluster, s3: Any, dag_id: str, run_id: str, step: str) -> None:
    """Waits until ``step`` committed MID_STREAM_PARTS parts while the generator still runs."""
    deadline = time.monotonic() + MID_STREAM_TIMEOUT_S
    while time.monotonic() < deadline:
        if _parts(s3, dag_id, run_id, step) >= MID_STREAM_PARTS:
            states = {ti["task_id"]: ti["state"] for ti in cluster.api().task_instances(dag_id, run_id)}
            assert states["rows"] == "running", f"the generator is no longer streaming: {states}"
            return
        time.sleep(0.3)
    raise AssertionError(f"{step} wrote no {MID_STREAM_PARTS} parts within {MID_STREAM_TIMEOUT_S:.0f} s")


def test_gpu_steps_run_on_the_gpu_host_one_device_per_replica(cluster: AirflowCluster, local_rows: list[str]) -> None:
    api = cluster.api()
    api.trigger_run("cluster_main", run_id="placement")
    peak_pool_use = 0
    deadline = time.monotonic() + 180
    while api.get_run("cluster_main", "placement")["state"] not in ("success", "failed"):
        pool = api.request("GET", f"/api/v2/pools/{GPU_POOL}")
        peak_pool_use = max(peak_pool_use, pool["running_slots"] + pool["queued_slots"])
        assert pool["open_slots"] >= 0, pool
        assert time.monotonic() < deadline, cluster.log_tails()
        time.sleep(0.3)
    assert wait(cluster, "cluster_main", "placement")["state"] == "success"

    rows = published_rows(cluster, "cluster_main", "placement")
    assert _comparable(rows) == local_rows
    tasks = api.task_instances("cluster_main", "placement")
    gpu_tasks = [ti for ti in tasks if ti["task_id"] == GPU_STEP]
    assert sorted(ti["map_index"] for ti in gpu_tasks) == [0, 1]
    assert {(ti["hostname"], ti["queue"]) for ti in gpu_tasks} == {("gpu-host", "gpu")}
    assert {(ti["hostname"], ti["queue"]) for ti in tasks if ti["task_id"] != GPU_STEP} == {("cpu-host", "default")}
    devices_by_process = defaultdict(set)
    for row in rows:
        devices_by_process[row["gpu_where"]["pid"]].add(row["gpu_where"]["devices"])
        assert row["gpu_where"]["worker"] in ("gpu-a", "gpu-b")
    assert len(devices_by_process) == 2, "one process per replica"
    assert sorted(device for devices in devices_by_process.values() for device in devices) == ["0", "1"]
    assert 1 <= peak_pool_use <= GPU_POOL_SLOTS, f"GPU pool use peaked at {peak_pool_use} slots"


def test_worker_killed_mid_stream_then_replaced(cluster: AirflowCluster, s3: Any, local_rows: list[str]) -> None:
    api = cluster.api()
    api.trigger_run("cluster_main", run_id="worker_killed")
    _wait_mid_stream(cluster, s3, "cluster_main", "worker_killed", "upper")
    killed = cluster.kill_worker("default")
    assert len(killed) > 2, "the worker, its pool processes and the task processes"
    cluster.start_worker(CeleryWorker("default-2", concurrency=8))

    assert wait(cluster, "cluster_main", "worker_killed")["state"] == "success"
    assert _comparable(published_rows(cluster, "cluster_main", "worker_killed")) == local_rows
    tries = {ti["task_id"]: ti["try_number"] for ti in api.task_instances("cluster_main", "worker_killed")}
    assert tries["upper"] >= 2 and tries["rows"] >= 2, f"the killed tasks were retried: {tries}"


def test_scheduler_killed_and_restarted_mid_run(cluster: AirflowCluster, s3: Any, local_rows: list[str]) -> None:
    cluster.api().trigger_run("cluster_main", run_id="scheduler_killed")
    _wait_mid_stream(cluster, s3, "cluster_main", "scheduler_killed", "upper")
    cluster.kill_component("scheduler")
    time.sleep(2)
    cluster.restart_scheduler()

    assert wait(cluster, "cluster_main", "scheduler_killed")["state"] == "success"
    assert _comparable(published_rows(cluster, "cluster_main", "scheduler_killed")) == local_rows


def test_concurrent_runs_keep_their_own_rows(cluster: AirflowCluster) -> None:
    api = cluster.api()
    runs = {f"param_{index}": f"-{index}" for index in range(10)}
    for run_id, tag in runs.items():
        api.trigger_run("cluster_params", conf={"upper__tag": tag}, run_id=run_id)
    for run_id, tag in runs.items():
        assert wait(cluster, "cluster_params", run_id)["state"] == "success", run_id
        rows = published_rows(cluster, "cluster_params", run_id)
        assert sorted((row["id"], row["upper"]) for row in rows) == [(i, f"ROW{i}{tag}") for i in range(6)]


def test_a_worker_without_the_store_names_it_in_the_failure(cluster: AirflowCluster) -> None:
    assert run_and_wait(cluster, "cluster_nostore", "nostore")["state"] == "failed"
    api = cluster.api()
    failed = [ti for ti in api.task_instances("cluster_nostore", "nostore") if ti["state"] == "failed"]
    assert failed and {ti["hostname"] for ti in failed} == {"far-host"}
    log = api.task_log("cluster_nostore", "nostore", failed[0]["task_id"], failed[0]["try_number"])
    assert f"Cannot reach the store {STORE!r} through Airflow connection {CONN_ID!r}" in log, log[-2000:]
    assert S3_SECRET_KEY not in log and S3_ACCESS_KEY not in log


def test_two_workers_of_one_host_never_share_a_device(cluster: AirflowCluster) -> None:
    # Four replicas can run at once (pool of four, two workers with two slots each) on two GPUs.
    # When the scheduler happens to start the second pair only after the first pair ended, nothing
    # contended for a device (or one worker took every task): such a run proves nothing, so one more
    # run is made.
    seen = []
    for attempt in range(SHARED_HOST_ATTEMPTS):
        overlap, workers = _shared_host_run(cluster, f"shared_{attempt}")
        seen.append((overlap, sorted(workers)))
        if overlap >= 3 and workers == {"gpu-a", "gpu-b"}:
            return
    raise AssertionError(f"no run had both workers and 3+ GPU tasks at once (tasks at once, workers): {seen}")


def _shared_host_run(cluster: AirflowCluster, run_id: str) -> tuple[int, set[str]]:
    """Runs the shared-host DAG and checks that no device was held by two tasks at once; returns the
    most GPU tasks that ran at once and the workers that ran them."""
    run = run_and_wait(cluster, "cluster_shared_host", run_id)
    assert run["state"] == "success"
    rows = published_rows(cluster, "cluster_shared_host", run_id)
    assert sorted(row["id"] for row in rows) == list(range(16))
    tasks = [ti for ti in cluster.api().task_instances("cluster_shared_host", run_id) if ti["task_id"] == GPU_STEP]
    task_intervals = [(_time(ti["start_date"]).timestamp(), _time(ti["end_date"]).timestamp()) for ti in tasks]
    held: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    for row in rows:
        where = row["gpu_where"]
        start, end = held[where["devices"]].get(where["pid"], (where["started"], where["ended"]))
        held[where["devices"]][where["pid"]] = (min(start, where["started"]), max(end, where["ended"]))
    assert set(held) == {"0", "1"}
    for device, by_process in held.items():
        assert _max_overlap(list(by_process.values())) == 1, f"device {device} held by two tasks at once: {by_process}"
    return _max_overlap(task_intervals), {row["gpu_where"]["worker"] for row in rows}
