"""Input/output mappings: process reads the mapped column whatever the key order, and no column is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, step
from airflow_dististage.typing import StepOutput


@step(inputs=["instruction"], outputs=["out"])
def Echo(inputs: StepInput) -> StepOutput:
    yield [{**row, "out": row["instruction"]} for row in inputs]


@step(inputs=["instruction"], outputs=["out"], step_type="global")
def GlobalEcho(inputs: StepInput) -> StepOutput:
    yield [{**row, "out": row["instruction"]} for row in inputs]


@pytest.mark.parametrize(
    "row",
    [{"instruction": "X", "prompt": "Y"}, {"prompt": "Y", "instruction": "X"}],
    ids=["instruction-first", "prompt-first"],
)
def test_mapped_input_reads_its_column_and_the_shadowed_column_comes_back(row: dict[str, str]) -> None:
    echo = Echo(input_mappings={"instruction": "prompt"})
    seen = echo.rename_inputs([row])
    assert seen == [{"instruction": "Y"}]
    (outputs,) = list(echo.process_applying_mappings([row]))
    assert outputs == [{"prompt": "Y", "out": "Y", "instruction": "X"}]


def test_swapped_mappings_exchange_columns_both_ways() -> None:
    echo = Echo(input_mappings={"instruction": "prompt", "prompt": "instruction"})
    (outputs,) = list(echo.process_applying_mappings([{"instruction": "X", "prompt": "Y"}]))
    assert outputs == [{"prompt": "Y", "instruction": "X", "out": "Y"}]


def test_output_mappings_rename_outputs_after_restoring() -> None:
    echo = Echo(input_mappings={"instruction": "prompt"}, output_mappings={"out": "answer"})
    (outputs,) = list(echo.process_applying_mappings([{"instruction": "X", "prompt": "Y"}]))
    assert outputs == [{"prompt": "Y", "answer": "Y", "instruction": "X"}]


def test_a_pipeline_run_keeps_both_columns(tmp_path: Path) -> None:
    rows = [{"instruction": f"X{i}", "prompt": f"Y{i}"} for i in range(3)]
    with Pipeline(name="mappings-run") as pipeline:
        loader = LoadDataFromDicts(data=rows)
        loader >> Echo(input_mappings={"instruction": "prompt"})
        loader >> GlobalEcho(input_mappings={"instruction": "prompt"})
    distiset = pipeline.run(use_cache=False, storage_parameters={"path": str(tmp_path)})
    expected = [{"instruction": f"X{i}", "prompt": f"Y{i}", "out": f"Y{i}"} for i in range(3)]
    for name in ("echo_0", "global_echo_0"):
        assert distiset[name]["train"].to_list() == expected


@step(inputs=["instruction"], outputs=["out"])
def KeepOdd(inputs: StepInput) -> StepOutput:
    yield [{**row, "out": row["instruction"]} for row in inputs if int(row["instruction"][1:]) % 2]


@step(inputs=["instruction"], outputs=["out"], step_type="global")
def GlobalKeepOdd(inputs: StepInput) -> StepOutput:
    kept = [row for row in inputs if int(row["instruction"][1:]) % 2]
    for row in kept:
        row["out"] = row["instruction"]
    yield kept


@step(inputs=["instruction"], outputs=["out"])
def Reverse(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["out"] = row["instruction"]
    yield inputs[::-1]


@step(inputs=["instruction"], outputs=["out"])
def Twice(inputs: StepInput) -> StepOutput:
    yield [copy for row in inputs for copy in ({**row, "out": "a"}, dict(row, out="b"))]


@step(inputs=["instruction"], outputs=["out"])
def Rebuild(inputs: StepInput) -> StepOutput:
    yield [{"instruction": row["instruction"], "out": row["instruction"]} for row in reversed(inputs)]


def _hidden_run(tmp_path: Path, name: str, make) -> list[dict[str, str]]:
    rows = [{"instruction": f"X{i}", "prompt": f"Y{i}"} for i in range(5)]
    with Pipeline(name=name) as pipeline:
        LoadDataFromDicts(data=rows, batch_size=3) >> make(name="mapped", input_mappings={"instruction": "prompt"})
    distiset = pipeline.run(use_cache=False, storage_parameters={"path": str(tmp_path)})
    return distiset["default"]["train"].to_list()


def _row(i: int, out: str | None = None) -> dict[str, str]:
    return {"instruction": f"X{i}", "prompt": f"Y{i}", "out": f"Y{i}" if out is None else out}


@pytest.mark.parametrize("make", [KeepOdd, GlobalKeepOdd], ids=["normal", "global"])
def test_a_filter_gives_each_kept_row_its_own_hidden_column(tmp_path: Path, make) -> None:
    assert _hidden_run(tmp_path, "hidden-filter", make) == [_row(1), _row(3)]


def test_reordered_rows_keep_their_own_hidden_column(tmp_path: Path) -> None:
    assert _hidden_run(tmp_path, "hidden-reverse", Reverse) == [_row(i) for i in reversed(range(5))]


def test_copies_of_an_input_row_all_get_its_hidden_column(tmp_path: Path) -> None:
    expected = [_row(i, out) for i in range(5) for out in ("a", "b")]
    assert _hidden_run(tmp_path, "hidden-expand", Twice) == expected


def test_new_dicts_never_get_another_rows_hidden_column(tmp_path: Path) -> None:
    rows = _hidden_run(tmp_path, "hidden-rebuild", Rebuild)
    assert rows == [{"prompt": f"Y{i}", "out": f"Y{i}"} for i in reversed(range(5))]


def test_dropping_hidden_columns_warns_once_per_step(caplog: pytest.LogCaptureFixture) -> None:
    rebuild = Rebuild(input_mappings={"instruction": "prompt"})
    batch = [{"instruction": "X0", "prompt": "Y0"}, {"instruction": "X1", "prompt": "Y1"}]
    with caplog.at_level("WARNING", logger="airflow_dististage.steps"):
        for _ in range(2):
            (outputs,) = list(rebuild.process_applying_mappings([dict(row) for row in batch]))
            assert outputs == [{"prompt": "Y1", "out": "Y1"}, {"prompt": "Y0", "out": "Y0"}]
    (record,) = caplog.records
    assert "'rebuild_0'" in record.getMessage() and "['instruction']" in record.getMessage()


def test_the_origin_marker_never_reaches_the_data() -> None:
    echo = Echo(input_mappings={"instruction": "prompt"})
    (outputs,) = list(echo.process_applying_mappings([{"instruction": "X", "prompt": "Y"}]))
    assert all(not key.startswith("__") for row in outputs for key in row)
    assert Echo().rename_inputs([{"instruction": "X"}]) == [{"instruction": "X"}]
