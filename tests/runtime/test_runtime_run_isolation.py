"""Runs never share parts: concurrent local runs of pipelines that share a name, two live runs of one
pipeline, generators that cannot resume at an offset, and what generators may yield."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime.local import StepFailedError
from airflow_dististage.steps import step
from airflow_dististage.typing import GeneratorStepOutput
from tests.conftest import REPO_ROOT
from tests.runtime.conftest import rows_of

RUN_SCRIPT = """
import json, sys, time
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, step

store, label, output, log = sys.argv[1:5]

@step(inputs=["text"], outputs=["tagged"])
def SlowTag(inputs: StepInput):
    time.sleep(0.3)
    with open(log, "a") as handle:
        handle.write(inputs[0]["text"] + "\\n")
    for row in inputs:
        row["tagged"] = row["text"] + "!"
    yield inputs

with Pipeline() as pipeline:  # the default name, "pipeline", for every run
    LoadDataFromDicts(data=[{"text": f"{label}{i}"} for i in range(30)], batch_size=5) >> SlowTag(input_batch_size=5)
distiset = pipeline.run(storage_parameters={"path": store}, show_progress=False)
json.dump(distiset["default"]["train"].to_list(), open(output, "w"))
"""
RUN_TIMEOUT_S = 120


def _run_concurrently(tmp_path: Path, labels: list[str]) -> list[list[dict]]:
    script = tmp_path / "run.py"
    script.write_text(RUN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    store = tmp_path / "store"
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(store), label, str(tmp_path / f"out{index}.json"), str(tmp_path / "calls.log")],
            cwd=REPO_ROOT,
            env=env,
            stderr=subprocess.PIPE,
        )
        for index, label in enumerate(labels)
    ]
    try:
        for process in processes:
            _, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
            assert process.returncode == 0, stderr.decode()[-3000:]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    return [json.loads((tmp_path / f"out{index}.json").read_text()) for index in range(len(labels))]


def _expected(label: str) -> list[dict]:
    return [{"text": f"{label}{i}", "tagged": f"{label}{i}!"} for i in range(30)]


def test_concurrent_pipelines_sharing_a_name_each_get_their_own_rows(tmp_path: Path) -> None:
    first, second = _run_concurrently(tmp_path, ["a", "b"])
    assert first == _expected("a")
    assert second == _expected("b")


def test_two_live_runs_of_one_pipeline_take_turns_and_compute_each_batch_once(tmp_path: Path) -> None:
    first, second = _run_concurrently(tmp_path, ["a", "a"])
    assert first == second == _expected("a")
    assert sorted((tmp_path / "calls.log").read_text().split()) == sorted(f"a{i}" for i in range(0, 30, 5))


@step(outputs=["n"], step_type="generator")
def CountToForty(crash_flag: str = "") -> GeneratorStepOutput:
    """Forty rows in four batches, without ``offset``; raises after two batches while ``crash_flag`` exists."""
    for start in range(0, 40, 10):
        if start == 20 and crash_flag and os.path.exists(crash_flag):
            os.remove(crash_flag)
            raise RuntimeError("crash after two committed batches")
        yield [{"n": n} for n in range(start, start + 10)], start + 10 >= 40


def test_a_generator_without_offset_is_rerun_from_its_start_never_appended(tmp_path: Path) -> None:
    flag = tmp_path / "crash"
    flag.touch()
    with Pipeline(name="no-offset") as pipeline:
        CountToForty(crash_flag=str(flag))
    options = {"path": str(tmp_path / "store")}
    with pytest.raises(StepFailedError, match="crash after two committed batches"):
        pipeline.run(storage_parameters=options, show_progress=False)
    rows = rows_of(pipeline.run(storage_parameters=options, show_progress=False))
    assert [row["n"] for row in rows] == list(range(40))


@step(outputs=["n"], step_type="generator")
def YieldsText() -> GeneratorStepOutput:
    yield "not rows", True


@step(outputs=["n"], step_type="generator")
def YieldsRowGenerator() -> GeneratorStepOutput:
    yield ({"n": n} for n in range(3)), True


def test_a_generator_yielding_a_string_is_named(tmp_path: Path) -> None:
    with Pipeline(name="bad-generator") as pipeline:
        YieldsText()
    with pytest.raises(StepFailedError, match=r"yields_text_0.*must yield lists of rows \(dicts\), got str"):
        pipeline.run(storage_parameters={"path": str(tmp_path)}, show_progress=False)


def test_a_generator_may_yield_a_generator_of_rows(tmp_path: Path) -> None:
    with Pipeline(name="row-generator") as pipeline:
        YieldsRowGenerator()
    assert rows_of(pipeline.run(storage_parameters={"path": str(tmp_path)}, show_progress=False)) == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
    ]
