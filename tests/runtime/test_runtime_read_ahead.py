"""Read-ahead: a step keeps several input batches in flight, and still writes exactly the rows of a
one-batch-at-a-time run, in order, also when it is killed mid-way and resumed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from airflow_dististage.llms import OpenAILLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime.read_ahead import in_order
from airflow_dististage.steps import LoadDataFromDicts
from airflow_dististage.steps.tasks import TextGeneration
from tests.llms.openai_server import FakeOpenAIServer
from tests.runtime.test_runtime_sigkill_resume import _assert_no_orphans, _start, kill_after_parts


def _instructions(count: int) -> list[dict[str, str]]:
    return [{"instruction": f"question {index}"} for index in range(count)]


def test_requests_stay_at_max_concurrency_across_batch_boundaries(tmp_path: Path) -> None:
    with FakeOpenAIServer(delay=0.1) as server:
        with Pipeline(name="read-ahead") as pipeline:
            llm = OpenAILLM(model="m", base_url=server.base_url, api_key="k", max_concurrency=20)
            LoadDataFromDicts(data=_instructions(120), batch_size=7) >> TextGeneration(llm=llm, input_batch_size=8)
        assert pipeline.steps["text_generation_0"].batches_in_flight() == 4  # ceil(20 / 8) + 1
        distiset = pipeline.run(use_cache=False, storage_parameters={"path": str(tmp_path)}, show_progress=False)
        rows = distiset["default"]["train"].to_list()

    assert server.max_in_flight == 20, "batches of 8 reach 20 requests in flight only together"
    assert [row["instruction"] for row in rows] == [f"question {index}" for index in range(120)]
    assert [row["generation"] for row in rows] == [f"echo 0: question {index}" for index in range(120)]
    assert len(server.requests) == 120


def test_in_order_yields_in_job_order_with_at_most_window_running() -> None:
    running, peak = [0], [0]

    def job(index: int, seconds: float):
        def run() -> int:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            time.sleep(seconds)
            running[0] -= 1
            return index

        return run

    jobs = ((index, job(index, 0.05 if index % 3 == 0 else 0.01)) for index in range(12))
    results = list(in_order(jobs, window=4))

    assert results == [(index, index) for index in range(12)]
    assert peak[0] == 4


def test_a_failing_job_lets_the_jobs_still_running_finish_before_it_is_raised() -> None:
    finished: list[int] = []

    def fail() -> int:
        time.sleep(0.05)
        raise RuntimeError("batch 0 failed")

    def slow(index: int):
        def run() -> int:
            time.sleep(0.5)
            finished.append(index)
            return index

        return run

    jobs = iter([(0, fail), (1, slow(1)), (2, slow(2))])
    with pytest.raises(RuntimeError, match="batch 0 failed"):
        list(in_order(jobs, window=3))

    assert sorted(finished) == [1, 2]  # the model is unloaded next: no generate call may still run


KILLED_SCRIPT = """
import json, sys
from airflow_dististage.llms import OpenAILLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts
from airflow_dististage.steps.tasks import TextGeneration

with Pipeline(name="killed") as pipeline:
    LoadDataFromDicts(data=[{"instruction": f"question {i}"} for i in range(600)], batch_size=50) >> TextGeneration(
        name="slow", llm=OpenAILLM(model="m", base_url=sys.argv[3], api_key="k", max_concurrency=12), input_batch_size=5
    )
distiset = pipeline.run(storage_parameters={"path": sys.argv[1]}, show_progress=False)
rows = distiset["default"]["train"].to_list()
json.dump([[row["instruction"], row["generation"]] for row in rows], open(sys.argv[2], "w"))
"""


def test_a_step_killed_with_batches_in_flight_resumes_to_exactly_the_rows(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(KILLED_SCRIPT)
    store, output = tmp_path / "store", tmp_path / "rows.json"
    with FakeOpenAIServer(delay=0.05) as server:
        runner = _start_with_url(script, store, output, server.base_url)
        committed_before = kill_after_parts(runner, store, "slow", 15)
        in_flight_then = server.max_in_flight
        assert 15 <= committed_before < 120
        assert not output.exists()

        resumed = _start_with_url(script, store, output, server.base_url)
        assert resumed.wait(120) == 0, resumed.stderr.read().decode()

    assert in_flight_then == 12, "the killed run had several batches of 5 in flight"
    rows = json.loads(output.read_text())
    assert rows == [[f"question {i}", f"echo 0: question {i}"] for i in range(600)]
    assert 600 < len(server.requests) < 1200, "the resumed run recomputed only what was not committed"
    _assert_no_orphans(tmp_path)


def _start_with_url(script: Path, store: Path, output: Path, base_url: str):
    """``_start`` of the SIGKILL test, with the server's URL as the script's third argument."""
    wrapper = script.with_name("with_url.py")
    wrapper.write_text(
        f"import sys, runpy\nsys.argv.append({base_url!r})\nrunpy.run_path({str(script)!r}, run_name='__main__')\n"
    )
    return _start(wrapper, store, output)


def test_a_token_budget_stops_within_the_batches_in_flight(tmp_path: Path) -> None:
    # The server reports 2 + 4 tokens a row: batches of 5 use 30, the 4th reaches the budget of 100.
    with FakeOpenAIServer(delay=0.02) as server:
        with Pipeline(name="budget") as pipeline:
            llm = OpenAILLM(model="m", base_url=server.base_url, api_key="k", max_concurrency=10)
            task = TextGeneration(llm=llm, input_batch_size=5, max_tokens_per_run=100)
            LoadDataFromDicts(data=_instructions(200), batch_size=20) >> task
        window = task.batches_in_flight()
        distiset = pipeline.run(use_cache=False, storage_parameters={"path": str(tmp_path)}, show_progress=False)
        rows = distiset["default"]["train"].to_list()

    assert window == 3
    assert 4 * 5 <= len(rows) <= (4 + window - 1) * 5
    assert [row["instruction"] for row in rows] == [f"question {index}" for index in range(len(rows))]
