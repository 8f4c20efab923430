"""Runs one DAG of a dags folder with ``dag.test()`` and prints the run as JSON (used by a test).

Usage: python dag_test_runner.py <dag_file> <dag_id> <conf json>
The environment names a migrated AIRFLOW_HOME whose dags folder holds ``dag_file``.
"""

from __future__ import annotations

import importlib.util
import json
import sys


def main(dag_file: str, dag_id: str, conf: str) -> None:
    spec = importlib.util.spec_from_file_location("dag_under_test", dag_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = next(value for value in vars(module).values() if getattr(value, "dag_id", None) == dag_id)
    run = dag.test(run_conf=json.loads(conf))
    states: dict[str, str] = {}
    mapped: dict[str, int] = {}
    tries: dict[str, int] = {}
    for ti in run.get_task_instances():
        tries[ti.task_id] = max(tries.get(ti.task_id, 0), ti.try_number)
        if states.get(ti.task_id) in (None, "success"):  # a mapped task succeeds if every index does
            states[ti.task_id] = ti.state
        if ti.map_index >= 0:
            mapped[ti.task_id] = mapped.get(ti.task_id, 0) + 1
    print(json.dumps({"run_id": run.run_id, "state": run.state, "tasks": states, "mapped": mapped, "tries": tries}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
