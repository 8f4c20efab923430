"""Runs DAGs of a dags folder with ``dag.test()``, one after another in this one process.

Usage: python dag_test_runner.py <requests json file>
The file holds a list of ``{"dag_file": ..., "dag_id": ..., "conf": {...}}``; the environment names a
migrated AIRFLOW_HOME whose dags folder holds the files. Prints one JSON line per request:
``{"dag_id": ..., "run": {...}}``, or ``{"dag_id": ..., "error": <traceback>}`` when ``dag.test()`` raised.
Several runs share one process because the first ``dag.test()`` of a process spends seconds
building Airflow's in-process execution API, which later runs reuse.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import traceback
from typing import Any


def run_one(dag_file: str, dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
    """``dag.test()`` of ``dag_id`` from ``dag_file``: its run id, state, task states, map counts, tries
    and the seconds ``dag.test()`` took."""
    spec = importlib.util.spec_from_file_location(f"dag_under_test_{dag_id}", dag_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = next(value for value in vars(module).values() if getattr(value, "dag_id", None) == dag_id)
    began = time.monotonic()
    run = dag.test(run_conf=conf)
    seconds = time.monotonic() - began
    states: dict[str, str] = {}
    mapped: dict[str, int] = {}
    tries: dict[str, int] = {}
    for ti in run.get_task_instances():
        tries[ti.task_id] = max(tries.get(ti.task_id, 0), ti.try_number)
        if states.get(ti.task_id) in (None, "success"):  # a mapped task succeeds if every index does
            states[ti.task_id] = ti.state
        if ti.map_index >= 0:
            mapped[ti.task_id] = mapped.get(ti.task_id, 0) + 1
    return {
        "run_id": run.run_id, "state": run.state, "tasks": states, "mapped": mapped, "tries": tries, "seconds": seconds
    }


def main(requests_file: str) -> None:
    with open(requests_file) as file:
        requests = json.load(file)
    for request in requests:
        try:
            answer = {"dag_id": request["dag_id"], "run": run_one(request["dag_file"], request["dag_id"], request["conf"])}
        except Exception:  # noqa: BLE001 - reported to the test, which fails on it
            answer = {"dag_id": request["dag_id"], "error": traceback.format_exc()}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
