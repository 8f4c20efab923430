"""Benchmark: the 200,000-row benchmark pipeline through a Celery cluster with an S3 store, vs ``pipeline.run()``.

One run of each, in this order: ``pipeline.run()`` with a local folder as its store, then one DAG run
on the loopback cluster of ``airflow_dististage.devstack.cluster`` (PostgreSQL, Redis, moto's S3
server reached through an Airflow connection, api-server, scheduler, dag-processor, one Celery
worker). Prints both wall times and their ratio, the parts the cluster run wrote to the store per
second, and per load stage: its wall time on the cluster (first task start to last task end, from
the REST API), the slowest step's own time in each run (from the store's markers), and the
cluster's overhead (cluster stage wall minus the local run's stage time), plus the wait between
stages.

    .venv/bin/python benchmarks/cluster.py [--rows 200000] [--keep-logs]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
STORE = "s3://dististage/store"
OUTPUT = "s3://dististage/output"
CONN_ID = "benchmark_s3"
RUN_TIMEOUT_S = 1800.0


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _stage_seconds(report: Any) -> list[float]:
    return [max(step.seconds for step in stage.steps) for stage in report.stages]


def run_local(rows: int) -> tuple[float, list[float], int]:
    """Wall seconds of ``pipeline.run()``, each stage's slowest step, and the rows it produced."""
    import cluster_dag

    from airflow_dististage.runtime.local import LOCAL_RUN_ID
    from airflow_dististage.runtime.run_report import read_run_report
    from airflow_dististage.runtime.store import BatchStore

    pipeline = cluster_dag.benchmark_pipeline()
    with tempfile.TemporaryDirectory() as store:
        start = time.perf_counter()
        distiset = pipeline.run(use_cache=False, storage_parameters={"path": store}, show_progress=False)
        seconds = time.perf_counter() - start
        (dataset,) = distiset.values()
        produced = sum(split.num_rows for split in dataset.values())
        report = read_run_report(BatchStore(store, pipeline.name, LOCAL_RUN_ID))
    assert produced == rows, produced
    return seconds, _stage_seconds(report), produced


def run_cluster(rows: int, keep_logs: bool) -> dict[str, Any]:
    """One DAG run on a fresh cluster: wall seconds, stage timings, parts written and rows published."""
    from airflow_dististage.devstack.cluster import AirflowCluster, CeleryWorker
    from airflow_dististage.distiset import Distiset
    from airflow_dististage.runtime.run_report import read_run_report
    from airflow_dististage.runtime.store import BatchStore

    root = Path(tempfile.mkdtemp(prefix="dististage-cluster-bench-"))
    dags = root / "dags"
    dags.mkdir()
    shutil.copy(HERE / "cluster_dag.py", dags)
    cluster = AirflowCluster(
        root / "home", dags, workers=[CeleryWorker("default", concurrency=6)],
        extra_env={"AIRFLOW__DISTISTAGE__STORE": STORE, "AIRFLOW__DISTISTAGE__OUTPUT": OUTPUT,
                   "AIRFLOW__DISTISTAGE__STORE_CONN_ID": CONN_ID, "BENCHMARK_ROWS": str(rows)},
    )
    try:
        started = time.perf_counter()
        cluster.start()
        cluster.add_s3_connection(CONN_ID)
        stack_seconds = time.perf_counter() - started
        api = cluster.api()
        began = time.perf_counter()
        api.trigger_run("cluster_benchmark", run_id="bench")
        run = api.wait_for_run("cluster_benchmark", "bench", timeout=RUN_TIMEOUT_S, poll_interval=0.5)
        seconds = time.perf_counter() - began
        if run["state"] != "success":
            raise RuntimeError(f"the cluster run {run['state']}:\n{cluster.log_tails()}")
        tasks = {ti["task_id"]: (_time(ti["start_date"]), _time(ti["end_date"]))
                 for ti in api.task_instances("cluster_benchmark", "bench")}
        options = cluster.s3.storage_options()
        store = BatchStore(STORE, "cluster_benchmark", "bench", storage_options=options)
        report = read_run_report(store)
        published = api.xcom("cluster_benchmark", "bench", "publish_distiset")
        distiset = Distiset.load_from_disk(published["path"], storage_options=options)
        (dataset,) = distiset.values()
        produced = sum(split.num_rows for split in dataset.values())
    finally:
        cluster.stop()
        if not keep_logs:
            shutil.rmtree(root, ignore_errors=True)
    stages = []
    for stage in report.stages:
        names = [step.name for step in stage.steps]
        start, end = min(tasks[name][0] for name in names), max(tasks[name][1] for name in names)
        stages.append({"steps": names, "start": start, "end": end})
    parts = sum(step.parts or 0 for stage in report.stages for step in stage.steps)
    return {
        "seconds": seconds, "stack_seconds": stack_seconds, "stages": stages, "step_seconds": _stage_seconds(report),
        "parts": parts, "rows": produced, "run_start": _time(run["start_date"]), "run_end": _time(run["end_date"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--keep-logs", action="store_true", help="Keep the cluster's AIRFLOW_HOME and logs.")
    args = parser.parse_args()
    os.environ["BENCHMARK_ROWS"] = str(args.rows)
    sys.path.insert(0, str(HERE))

    local_seconds, local_stages, local_rows = run_local(args.rows)
    cluster = run_cluster(args.rows, args.keep_logs)
    assert cluster["rows"] == local_rows, (cluster["rows"], local_rows)

    print(f"rows: {args.rows:,}  (machine: {os.cpu_count()} CPUs)")
    print(f"pipeline.run(), local folder store:   {local_seconds:8.1f} s")
    print(f"Celery cluster, S3 store (trigger to success): {cluster['seconds']:8.1f} s"
          f"   (stack start, not counted: {cluster['stack_seconds']:.1f} s)")
    print(f"ratio cluster / local:                {cluster['seconds'] / local_seconds:8.2f}")
    run_seconds = cluster["run_end"] - cluster["run_start"]
    print(f"parts written to the store: {cluster['parts']} in {run_seconds:.1f} s of run"
          f" = {cluster['parts'] / run_seconds:.1f} parts/s")
    header = ("stage", "steps", "cluster wall", "cluster step", "local step", "overhead", "wait before")
    print(f"{header[0]:<8}{header[1]:<28}{header[2]:>13}{header[3]:>13}{header[4]:>11}{header[5]:>10}{header[6]:>12}")
    previous_end = cluster["run_start"]
    for index, stage in enumerate(cluster["stages"]):
        wall = stage["end"] - stage["start"]
        steps, wait_before = ",".join(stage["steps"]), stage["start"] - previous_end
        print(f"{index:<8}{steps:<28}{wall:>12.1f}s{cluster['step_seconds'][index]:>12.1f}s"
              f"{local_stages[index]:>10.1f}s{wall - local_stages[index]:>9.1f}s{wait_before:>11.1f}s")
        previous_end = stage["end"]
    print(f"publish + finish after the last stage: {cluster['run_end'] - previous_end:.1f} s")


if __name__ == "__main__":
    main()
