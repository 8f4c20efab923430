"""Real executions of the example DAGs with ``dag.test()`` on a throw-away SQLite Airflow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_dististage.distiset import Distiset
from airflow_dististage.runtime.folders import safe_folder_name
from tests.conftest import REPO_ROOT
from tests.llms.openai_server import FakeOpenAIServer

RUNNER = Path(__file__).with_name("dag_test_runner.py")
EXAMPLES = ("seed_pipeline.py", "nightly_generation.py")
TEST_DAGS = Path(__file__).with_name("dags")


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    """Environment of a migrated SQLite Airflow whose dags folder holds the examples under test."""
    root = tmp_path_factory.mktemp("dag-test")
    dags = root / "dags"
    dags.mkdir()
    for name in EXAMPLES:
        shutil.copy(REPO_ROOT / "dags_examples" / name, dags / name)
    for dag_file in TEST_DAGS.glob("*.py"):
        shutil.copy(dag_file, dags / dag_file.name)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(root / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DISTISTAGE__STORE": str(root / "store"),
        "AIRFLOW__DISTISTAGE__OUTPUT": str(root / "output"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True, timeout=300, check=True)
    return env


def _dag_test(env: dict[str, str], dag_file: str, dag_id: str, conf: dict, expect: str = "success") -> dict:
    path = Path(env["AIRFLOW__CORE__DAGS_FOLDER"]) / dag_file
    result = subprocess.run(
        [sys.executable, str(RUNNER), str(path), dag_id, json.dumps(conf)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    run = json.loads(result.stdout.strip().splitlines()[-1])
    assert run["state"] == expect, run
    if expect != "success":
        return run
    assert set(run["tasks"].values()) == {"success"}, run["tasks"]
    return run


def _run_folder(env: dict[str, str], key: str, *parts: str) -> Path:
    return Path(env[key]).joinpath(*parts)


def test_the_seed_dag_runs_end_to_end_with_params(airflow_env):
    run = _dag_test(airflow_env, "seed_pipeline.py", "seed_pipeline", {"dummy_step_0__input_batch_size": 7})
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
        run = _dag_test(env, "nightly_generation.py", "nightly_generation", {"count_words__min_words": 3})

    distiset = Distiset.load_from_disk(
        _run_folder(airflow_env, "AIRFLOW__DISTISTAGE__OUTPUT", "nightly_generation", safe_folder_name(run["run_id"]))
    )
    rows = distiset["default"]["train"]
    assert rows.num_rows == 8
    assert rows[0]["generation"] == "echo 0: Write two sentences about rivers."
    assert rows[0]["words"] == 7
    assert len(server.requests) == 8


def test_a_failing_step_fails_its_successor_in_the_same_stage(airflow_env):
    """The generator fails on every try: once its retry failed too, the successor fails."""
    run = _dag_test(airflow_env, "failing_generator.py", "failing_generator", {}, expect="failed")

    assert run["tasks"] == {"broken_rows": "failed", "shout": "failed", "publish_distiset": "upstream_failed"}
    assert run["tries"]["broken_rows"] == 2


def test_a_step_retried_after_a_failure_keeps_its_successor_waiting(airflow_env):
    run = _dag_test(airflow_env, "flaky_generator.py", "flaky_generator", {})

    assert run["tasks"] == {"flaky_rows": "success", "shout": "success", "publish_distiset": "success"}
    assert run["tries"] == {"flaky_rows": 2, "shout": 1, "publish_distiset": 1}
    distiset = Distiset.load_from_disk(
        _run_folder(airflow_env, "AIRFLOW__DISTISTAGE__OUTPUT", "flaky_generator", safe_folder_name(run["run_id"]))
    )
    assert distiset["default"]["train"]["text"] == ["FIRST", "SECOND"]


def test_replicas_run_as_mapped_tasks_that_share_the_rows(airflow_env):
    run = _dag_test(airflow_env, "replicated_step.py", "replicated_step", {})

    assert run["tasks"] == {"load_data_from_dicts_0": "success", "square": "success", "publish_distiset": "success"}
    assert run["mapped"] == {"square": 3}
    distiset = Distiset.load_from_disk(
        _run_folder(airflow_env, "AIRFLOW__DISTISTAGE__OUTPUT", "replicated_step", safe_folder_name(run["run_id"]))
    )
    rows = distiset["default"]["train"]
    assert sorted(zip(rows["number"], rows["square"])) == [(n, n * n) for n in range(20)]
