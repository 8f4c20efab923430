"""Token accounting of LLM steps on the canned LLM (tokens are words): progress counters in the markers, the
Distiset's totals, and max_tokens_per_run of a step and of a run, through pipeline.run()."""

from __future__ import annotations

import pytest

from airflow_dististage.compiler import CompileError
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime import BatchStore, StepExecution, lineage_fingerprints
from airflow_dististage.runtime.local import LOCAL_RUN_ID
from airflow_dististage.runtime.progress import StepProgress
from airflow_dististage.steps import KeepColumns, LoadDataFromDicts, StepResources
from airflow_dististage.steps.tasks import TextGeneration
from tests.runtime.conftest import rows_of, store_path  # noqa: F401 - store_path is a fixture
from tests.steps.canned_llm import CannedLLM

ROW_TOKENS = 3 + 2
"""Each row's instruction has 3 words and its canned answer 2: 5 tokens per generation."""


def _rows(count: int) -> list[dict[str, str]]:
    return [{"instruction": f"w{index} a b"} for index in range(count)]


def _generation(name: str, **kwargs) -> TextGeneration:
    return TextGeneration(name=name, llm=CannedLLM(replies={"a b": "x y"}), input_batch_size=2, **kwargs)


def _markers(store_path: str, pipeline: Pipeline, step: str, kind: str) -> list[dict]:
    plan = pipeline.plan()
    data = BatchStore(store_path, pipeline.name, LOCAL_RUN_ID).step(step, lineage_fingerprints(pipeline, plan)[step])
    return [data.read_marker(kind, replica) for replica in range(plan.steps[step].replicas)]


def test_progress_payload_has_integer_token_counters() -> None:
    progress = StepProgress("gen")
    progress.used_tokens(3, 4)
    payload = progress.as_payload()
    assert (payload["input_tokens"], payload["output_tokens"]) == (3, 4)
    assert all(isinstance(payload[key], int) for key in ("input_tokens", "output_tokens"))


def test_steps_count_their_tokens_in_markers_and_the_distiset(store_path: str) -> None:  # noqa: F811
    with Pipeline(name="tokens") as pipeline:
        load = LoadDataFromDicts(data=_rows(6), batch_size=2)
        load >> _generation("single")
        load >> _generation("pair", num_generations=2, resources=StepResources(replicas=2))
        load >> KeepColumns(columns=["instruction"])

    distiset = pipeline.run(storage_parameters={"path": store_path}, use_cache=False)

    assert distiset.metadata["token_usage"] == {
        "steps": {
            "single": {"input_tokens": 6 * 3, "output_tokens": 6 * 2},
            "pair": {"input_tokens": 6 * 2 * 3, "output_tokens": 6 * 2 * 2},
        },
        "input_tokens": 54,
        "output_tokens": 36,
        "budget_reached": [],
    }
    finished = _markers(store_path, pipeline, "pair", "finished")
    assert sum(marker["input_tokens"] for marker in finished) == 36
    assert all(marker["input_tokens"] > 0 and not marker["token_budget_reached"] for marker in finished)
    assert _markers(store_path, pipeline, "keep_columns_0", "finished")[0]["input_tokens"] == 0
    started = _markers(store_path, pipeline, "single", "started")[0]
    assert isinstance(started["input_tokens"], int) and isinstance(started["output_tokens"], int)


def test_a_steps_budget_keeps_the_batches_up_to_it_and_downstream_finishes(store_path: str) -> None:  # noqa: F811
    with Pipeline(name="step-budget") as pipeline:
        LoadDataFromDicts(data=_rows(10), batch_size=2) >> _generation("gen") >> KeepColumns(columns=["generation"])

    distiset = pipeline.run(
        storage_parameters={"path": store_path}, use_cache=False, parameters={"gen": {"max_tokens_per_run": 25}}
    )

    # 10 tokens per batch of 2 rows: 20 < 25 lets a third batch start, 30 >= 25 stops the fourth
    assert rows_of(distiset) == [{"generation": "x y"}] * 6
    assert distiset.metadata["token_usage"]["steps"] == {"gen": {"input_tokens": 18, "output_tokens": 12}}
    assert distiset.metadata["token_usage"]["budget_reached"] == ["gen"]


def test_replicas_share_a_steps_budget_and_every_part_exists(store_path: str) -> None:  # noqa: F811
    with Pipeline(name="replica-budget") as pipeline:
        LoadDataFromDicts(data=_rows(8), batch_size=2) >> _generation(
            "gen", resources=StepResources(replicas=2), max_tokens_per_run=20
        )

    distiset = pipeline.run(storage_parameters={"path": store_path}, use_cache=False)

    # each replica gets 10 tokens: one batch each (batches 0 and 1), then empty parts 2 and 3
    assert [row["instruction"] for row in rows_of(distiset)] == ["w0 a b", "w1 a b", "w2 a b", "w3 a b"]
    assert distiset.metadata["token_usage"]["input_tokens"] + distiset.metadata["token_usage"]["output_tokens"] == 20


def test_a_runs_budget_counts_every_llm_step(store_path: str) -> None:  # noqa: F811
    with Pipeline(name="run-budget") as pipeline:
        first = _generation("first")
        second = _generation("second", output_mappings={"generation": "second_generation"})
        LoadDataFromDicts(data=_rows(4), batch_size=2) >> first >> second

    distiset = pipeline.run(
        storage_parameters={"path": store_path}, use_cache=False, load_groups=[["second"]], max_tokens_per_run=25
    )

    # first: 2 batches (20 tokens, all rows); second: 20 + 10 >= 25 after its first batch
    assert [row["second_generation"] for row in rows_of(distiset)] == ["x y", "x y"]
    usage = distiset.metadata["token_usage"]
    assert usage["steps"] == {
        "first": {"input_tokens": 12, "output_tokens": 8},
        "second": {"input_tokens": 6, "output_tokens": 4},
    }
    assert (usage["input_tokens"], usage["output_tokens"], usage["budget_reached"]) == (18, 12, ["second"])


def test_the_step_logs_why_it_stops(tmp_path, caplog) -> None:
    with Pipeline(name="logged") as pipeline:
        LoadDataFromDicts(name="load", data=_rows(6), batch_size=2) >> _generation("gen", max_tokens_per_run=15)
    plan = pipeline.plan()
    store = BatchStore(str(tmp_path), pipeline.name, LOCAL_RUN_ID)
    StepExecution(pipeline, plan, store, "load").run()
    caplog.set_level("WARNING", logger="airflow_dististage.runtime")

    summary = StepExecution(pipeline, plan, store, "gen").run()

    assert (summary.rows_out, summary.input_tokens, summary.output_tokens, summary.token_budget_reached) == (
        4, 12, 8, True
    )
    assert "Step gen replica 0 stops generating: it used 20 tokens, and the step's max_tokens_per_run is 15" in (
        caplog.text
    )
    assert "keeps the 4 rows it generated, reads no more input" in caplog.text


@pytest.mark.parametrize("budget", [0, -3, 2.5, True])
def test_bad_budgets_are_refused_naming_where(budget, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"Step 'gen': max_tokens_per_run must be None or an integer >= 1"):
        with Pipeline(name="bad"):
            _generation("gen", max_tokens_per_run=budget)
    with Pipeline(name="bad-run") as pipeline:
        LoadDataFromDicts(data=_rows(1)) >> _generation("gen")
    with pytest.raises(ValueError, match=r"^max_tokens_per_run must be None or an integer >= 1"):
        pipeline.run(storage_parameters={"path": str(tmp_path)}, max_tokens_per_run=budget)
    with pytest.raises(CompileError, match=r"max_tokens_per_run must be None or an integer >= 1"):
        pipeline.to_airflow(dag_id="bad", store=str(tmp_path), output=str(tmp_path), max_tokens_per_run=budget)
