"""Real executions of the example DAGs with ``dag.test()`` on a throw-away SQLite Airflow."""

from __future__ import annotations

from pathlib import Path

from airflow_dististage.distiset import Distiset
from airflow_dististage.runtime.folders import safe_folder_name
from tests.conftest import REPO_ROOT
from tests.dag_runs import dag_test, finished_run
from tests.llms.openai_server import FakeOpenAIServer


def _run_folder(env: dict[str, str], key: str, *parts: str) -> Path:
    return Path(env[key]).joinpath(*parts)


def test_the_seed_dag_runs_end_to_end_with_params(airflow_env, dag_runs):
    run = finished_run(dag_runs, "seed_pipeline")  # with conf {"dummy_step_0__input_batch_size": 7}
    folder = safe_folder_name(run["run_id"])

    distiset = Distiset.load_from_disk(_run_folder(airflow_env, "AIRFLOW__DISTISTAGE__OUTPUT", "seed_pipeline", folder))
    rows = distiset["default"]["train"]
    assert rows.num_rows == 50
    assert set(rows["response"]) == {"HI"}
    config = distiset.pipeline_config["pipeline"]  # the run's pipeline.yaml, with the run's Params applied
    steps = {entry["name"]: entry["step"] for entry in config["steps"]}
    assert list(steps) == ["load_data_from_dicts_0", "dummy_step_0", "global_dummy_step_0", "dummy_step_1"]
    assert steps["dummy_step_0"]["input_batch_size"] == 7
    assert distiset.pipeline_path.name == "pipeline.yaml"
    (lineage,) = _run_folder(airflow_env, "AIRFLOW__DISTISTAGE__STORE", "seed_pipeline", folder, "dummy_step_0").iterdir()
    assert len(list((lineage / "parts").iterdir())) == 8  # 50 rows in batches of input_batch_size=7, from the run's conf


def test_the_nightly_example_generates_through_the_workers_llm_server(airflow_env):
    with FakeOpenAIServer() as server:
        env = {**airflow_env, "OPENAI_BASE_URL": server.base_url}
        run = dag_test(
            env, REPO_ROOT / "dags_examples" / "nightly_generation.py", "nightly_generation", {"count_words__min_words": 3}
        )

    distiset = Distiset.load_from_disk(
        _run_folder(airflow_env, "AIRFLOW__DISTISTAGE__OUTPUT", "nightly_generation", safe_folder_name(run["run_id"]))
    )
    rows = distiset["default"]["train"]
    assert rows.num_rows == 8
    assert rows[0]["generation"] == "echo 0: Write two sentences about rivers."
    assert rows[0]["words"] == 7
    assert len(server.requests) == 8


def test_a_failing_step_fails_its_successor_in_the_same_stage(dag_runs):
    """The generator fails on every try: once its retry failed too, the successor fails."""
    run = finished_run(dag_runs, "failing_generator", expect="failed")

    assert run["tasks"] == {"broken_rows": "failed", "shout": "failed", "publish_distiset": "upstream_failed"}
    assert run["tries"]["broken_rows"] == 2


def test_a_step_retried_after_a_failure_keeps_its_successor_waiting(airflow_env, dag_runs):
    run = finished_run(dag_runs, "flaky_generator")

    assert run["tasks"] == {"flaky_rows": "success", "shout": "success", "publish_distiset": "success"}
    assert run["tries"] == {"flaky_rows": 2, "shout": 1, "publish_distiset": 1}
    distiset = Distiset.load_from_disk(
        _run_folder(airflow_env, "AIRFLOW__DISTISTAGE__OUTPUT", "flaky_generator", safe_folder_name(run["run_id"]))
    )
    assert distiset["default"]["train"]["text"] == ["FIRST", "SECOND"]


def test_replicas_run_as_mapped_tasks_that_share_the_rows(airflow_env, dag_runs):
    run = finished_run(dag_runs, "replicated_step")

    assert run["tasks"] == {"load_data_from_dicts_0": "success", "square": "success", "publish_distiset": "success"}
    assert run["mapped"] == {"square": 3}
    distiset = Distiset.load_from_disk(
        _run_folder(airflow_env, "AIRFLOW__DISTISTAGE__OUTPUT", "replicated_step", safe_folder_name(run["run_id"]))
    )
    rows = distiset["default"]["train"]
    assert sorted(zip(rows["number"], rows["square"])) == [(n, n * n) for n in range(20)]
