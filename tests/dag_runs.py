"""``dag.test()`` runs of compiled DAGs on a throw-away SQLite Airflow, for every test folder.

:func:`run_dag_tests` runs several DAGs in one runner process (see ``compiler/dag_test_runner.py``);
the ``airflow_env`` fixture (``tests/conftest.py``) migrates one Airflow home per test session, and
``family_dag_runs`` runs every DAG of :data:`FAMILY_DAGS` once, in one process, for the tests of each
step family to read.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
REPO_ROOT = TESTS.parent
RUNNER = TESTS / "compiler" / "dag_test_runner.py"
RUN_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class DagRun:
    """One ``dag.test()`` to do: the DAG file (copied into the dags folder), the DAG id, the run conf,
    and an optional ``prepare(dags_folder)`` that writes what the DAG reads before it runs."""

    dag_file: Path
    dag_id: str
    conf: dict[str, Any] = field(default_factory=dict)
    prepare: Callable[[Path], None] | None = None


def migrated_airflow_env(root: Path) -> dict[str, str]:
    """The environment of a migrated SQLite Airflow home under ``root`` with an empty dags folder,
    a store and an output folder."""
    dags = root / "dags"
    dags.mkdir(parents=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(root / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DISTISTAGE__STORE": str(root / "store"),
        "AIRFLOW__DISTISTAGE__OUTPUT": str(root / "output"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True, timeout=300, check=True)
    return env


def run_dag_tests(env: dict[str, str], runs: Iterable[DagRun]) -> dict[str, dict[str, Any]]:
    """Copies each DAG file into the dags folder, prepares it, and runs them all with ``dag.test()`` in
    one process; returns the runner's answer per DAG id (``run`` or ``error``, and ``output``: what the
    runner process printed, task logs included)."""
    runs = list(runs)
    dags = Path(env["AIRFLOW__CORE__DAGS_FOLDER"])
    requests = []
    for run in runs:
        target = dags / run.dag_file.name
        if run.dag_file.resolve() != target.resolve():
            shutil.copy(run.dag_file, target)
        if run.prepare is not None:
            run.prepare(dags)
        requests.append({"dag_file": str(target), "dag_id": run.dag_id, "conf": run.conf})
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=dags.parent, delete=False) as file:
        json.dump(requests, file)
    result = subprocess.run(
        [sys.executable, str(RUNNER), file.name],
        env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S * len(runs), check=False,
    )
    answers = {}
    for line in result.stdout.splitlines():
        if line.startswith('{"dag_id"'):
            answer = json.loads(line)
            answer["output"] = result.stdout + result.stderr
            answers[answer.pop("dag_id")] = answer
    missing = [run.dag_id for run in runs if run.dag_id not in answers]
    if missing:
        raise AssertionError(f"dag.test() runner gave no answer for {missing}:\n{result.stderr[-5000:]}")
    return answers


def finished_run(answers: dict[str, dict[str, Any]], dag_id: str, expect: str = "success") -> dict[str, Any]:
    """The run of ``dag_id`` among ``answers``, asserting it ended in ``expect`` (every task succeeded
    for ``"success"``)."""
    answer = answers[dag_id]
    assert "error" not in answer, answer["error"]
    run = answer["run"]
    assert run["state"] == expect, run
    if expect == "success":
        assert set(run["tasks"].values()) == {"success"}, run["tasks"]
    return run


def dag_test(env: dict[str, str], dag_file: Path, dag_id: str, conf: dict[str, Any] | None = None,
             expect: str = "success") -> dict[str, Any]:
    """One ``dag.test()`` run in its own process, for a test whose environment differs from the shared one;
    the run, with ``output``: what the runner printed (task logs included)."""
    answers = run_dag_tests(env, [DagRun(dag_file, dag_id, conf or {})])
    return {**finished_run(answers, dag_id, expect), "output": answers[dag_id]["output"]}


def output_folder(env: dict[str, str], dag_id: str, run: dict[str, Any]) -> Path:
    """Where the run's Distiset was published."""
    from airflow_dististage.runtime.folders import safe_folder_name

    return Path(env["AIRFLOW__DISTISTAGE__OUTPUT"]) / dag_id / safe_folder_name(run["run_id"])


def shared_dag_runs() -> list[DagRun]:
    """The DAG runs that need nothing but the shared environment: each test folder's DAG files that
    run once per session, all in one runner process (fixture ``dag_runs``)."""
    from tests.steps.loader_data import write_loader_data

    steps_dags, compiler_dags = TESTS / "steps" / "dags", TESTS / "compiler" / "dags"
    return [
        DagRun(REPO_ROOT / "dags_examples" / "seed_pipeline.py", "seed_pipeline", {"dummy_step_0__input_batch_size": 7}),
        DagRun(compiler_dags / "failing_generator.py", "failing_generator"),
        DagRun(compiler_dags / "flaky_generator.py", "flaky_generator"),
        DagRun(compiler_dags / "replicated_step.py", "replicated_step"),
        DagRun(compiler_dags / "unusual_names.py", "team.synth_données"),
        DagRun(compiler_dags / "empty_data.py", "empty_data"),
        DagRun(compiler_dags / "failure_paths.py", "upstream_fails_while_waiting"),
        DagRun(steps_dags / "column_steps.py", "column_steps"),
        DagRun(steps_dags / "formatting_steps.py", "formatting_steps"),
        DagRun(
            steps_dags / "loader_steps.py",
            "loader_steps",
            prepare=lambda dags: write_loader_data(dags / "loader_steps_data"),
        ),
        DagRun(steps_dags / "task_steps.py", "task_steps"),
        DagRun(TESTS / "routing" / "dags" / "routing_retry.py", "routing_retry"),
    ]
