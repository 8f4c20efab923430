"""Routing in a compiled DAG run by ``dag.test()``: the routing step fails once and Airflow retries it."""

from __future__ import annotations

from airflow_dististage.distiset import Distiset
from tests.dag_runs import finished_run, output_folder


def test_a_retried_routing_step_keeps_the_decisions_of_the_batches_it_wrote(airflow_env, dag_runs) -> None:
    run = finished_run(dag_runs, "routing_retry")

    assert run["tries"]["load"] == 2
    assert all(run["tries"][name] == 1 for name in ("tg_a", "tg_b", "tg_c", "group"))
    rows = Distiset.load_from_disk(output_folder(airflow_env, "routing_retry", run))["default"]["train"].to_list()
    before, after = ["tg_a", "tg_b"], ["tg_b", "tg_c"]  # the decisions of the first try, then of the retry
    assert rows == [
        {
            "instruction": f"i{n}",
            "grouped_generation": [f"{name}:i{n}" for name in (before if n < 6 else after)],
            "grouped_model_name": before if n < 6 else after,
        }
        for n in range(10)
    ]
