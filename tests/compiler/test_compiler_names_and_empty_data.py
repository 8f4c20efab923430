"""``dag.test()`` runs of a DAG id with a dot and an accent, a pipeline name with spaces, and a loader without rows."""

from __future__ import annotations

from pathlib import Path

from airflow_dististage.compiler import distiset_asset
from airflow_dististage.distiset import Distiset
from airflow_dististage.runtime.folders import safe_folder_name
from tests.dag_runs import finished_run


def _only_run_folder(env: dict[str, str], key: str, dag_id: str) -> Path:
    (run_folder,) = Path(env[key], safe_folder_name(dag_id)).iterdir()
    return run_folder


def test_a_dotted_accented_dag_id_and_a_spaced_pipeline_name_run_to_one_folder(airflow_env, dag_runs):
    dag_id = "team.synth_données"
    run = finished_run(dag_runs, dag_id)
    assert run["mapped"] == {"greet": 2}

    output = Path(airflow_env["AIRFLOW__DISTISTAGE__OUTPUT"])
    run_folder = _only_run_folder(airflow_env, "AIRFLOW__DISTISTAGE__OUTPUT", dag_id)
    assert run_folder.name == safe_folder_name(run["run_id"])
    rows = Distiset.load_from_disk(run_folder)["default"]["train"].to_list()
    assert rows == [{"persona": f"p{i}", "greeting": f"Hello, p{i}"} for i in range(5)]
    assert distiset_asset(dag_id, str(output)).uri == run_folder.parent.as_uri()
    store_run = _only_run_folder(airflow_env, "AIRFLOW__DISTISTAGE__STORE", dag_id)
    assert sorted(step.name for step in store_run.iterdir() if step.is_dir()) == ["greet", "load_data_from_dicts_0"]


def test_a_loader_without_rows_runs_to_an_empty_distiset(airflow_env, dag_runs):
    finished_run(dag_runs, "empty_data")

    dataset = Distiset.load_from_disk(_only_run_folder(airflow_env, "AIRFLOW__DISTISTAGE__OUTPUT", "empty_data"))
    assert dataset["default"]["train"].num_rows == 0
    assert dataset["default"]["train"].column_names == ["instruction", "response"]
