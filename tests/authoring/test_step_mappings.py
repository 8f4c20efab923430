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
