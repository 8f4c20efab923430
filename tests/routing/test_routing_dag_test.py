"""Routing in a compiled DAG run by ``dag.test()``: the routing step fails once and Airflow retries it."""

from __future__ import annotations

import shutil
from pathlib import Path

from airflow_dististage.distiset import Distiset
from airflow_dististage.runtime.folders import safe_folder_name
from tests.compiler.test_compiler_dag_test import _dag_test, airflow_env  # noqa: F401 - airflow_env is a fixture

DAGS = Path(__file__).with_name("dags")


def test_a_retried_routing_step_keeps_the_decisions_of_the_batches_it_wrote(airflow_env) -> None:  # noqa: F811
    shutil.copy(DAGS / "routing_retry.py", Path(airflow_env["AIRFLOW__CORE__DAGS_FOLDER"]) / "routing_retry.py")
    run = _dag_test(airflow_env, "routing_retry.py", "routing_retry", {})

    assert run["tries"]["load"] == 2
    assert all(run["tries"][name] == 1 for name in ("tg_a", "tg_b", "tg_c", "group"))
    output = Path(airflow_env["AIRFLOW__DISTISTAGE__OUTPUT"]) / "routing_retry" / safe_folder_name(run["run_id"])
    rows = Distiset.load_from_disk(output)["default"]["train"].to_list()
    before, after = ["tg_a", "tg_b"], ["tg_b", "tg_c"]  # the decisions of the first try, then of the retry
    assert rows == [
        {
            "instruction": f"i{n}",
            "grouped_generation": [f"{name}:i{n}" for name in (before if n < 6 else after)],
            "grouped_model_name": before if n < 6 else after,
        }
        for n in range(10)
    ]
