"""What a step writes is checked when its part is written: a value Arrow cannot hold, or a column whose
type drifts across batches, fails that step at once naming step, batch and column (not, as before, the
very end of the run); safe unifications go through; pickled values only when the pipeline opts in."""

from __future__ import annotations

from fractions import Fraction

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime.local import StepFailedError
from airflow_dististage.steps import LoadDataFromDicts, StepInput, step
from airflow_dististage.typing import StepOutput
from tests.runtime.conftest import rows_of


def _numbers(count: int = 20) -> list[dict]:
    return [{"n": n} for n in range(count)]


@step(inputs=["n"], outputs=["value"])
def DriftsAtTen(inputs: StepInput) -> StepOutput:
    """``value`` is an int for rows below 10 and a str from row 10 on."""
    for row in inputs:
        row["value"] = row["n"] if row["n"] < 10 else f"n{row['n']}"
    yield inputs


@step(inputs=["n"], outputs=["value"])
def IntThenFloat(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["value"] = None if row["n"] < 5 else (row["n"] if row["n"] < 10 else row["n"] + 0.5)
    yield inputs


@step(inputs=["n"], outputs=["value"])
def Fractions(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["value"] = Fraction(row["n"], 3)
    yield inputs


@step(inputs=["n"], outputs=["value"])
def TooLarge(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["value"] = 2**70 if row["n"] == 13 else row["n"]
    yield inputs


def _pipeline(kind: type, **pipeline_options) -> Pipeline:
    with Pipeline(name=f"types-{kind.__name__}", **pipeline_options) as pipeline:
        LoadDataFromDicts(data=_numbers(), batch_size=5) >> kind(name="writer", input_batch_size=5)
    return pipeline


def test_a_type_drift_fails_the_step_at_the_batch_naming_column_and_both_types(store_path: str) -> None:
    with pytest.raises(StepFailedError) as failure:
        _pipeline(DriftsAtTen).run(storage_parameters={"path": store_path}, use_cache=False)
    message = str(failure.value)
    assert "Step 'writer'" in message and "batch 2" in message and "'value'" in message
    assert "string" in message and "int64" in message


def test_nulls_and_ints_unify_with_floats_across_batches(store_path: str) -> None:
    rows = rows_of(_pipeline(IntThenFloat).run(storage_parameters={"path": store_path}, use_cache=False))
    assert [row["value"] for row in rows] == [None] * 5 + [float(n) for n in range(5, 10)] + [
        n + 0.5 for n in range(10, 20)
    ]


@pytest.mark.parametrize(("kind", "batch"), [(Fractions, "batch 0"), (TooLarge, "batch 2")])
def test_a_value_arrow_cannot_hold_fails_the_step_naming_it(kind: type, batch: str, store_path: str) -> None:
    with pytest.raises(StepFailedError, match=rf"Step 'writer', batch {batch[-1]}: Column 'value'"):
        _pipeline(kind).run(storage_parameters={"path": store_path}, use_cache=False)


@step(inputs=["value"], outputs=["text"])
def ToText(inputs: StepInput) -> StepOutput:
    yield [{"n": row["n"], "text": f"{type(row['value']).__name__} {row['value']}"} for row in inputs]


def test_pickled_values_pass_between_steps_only_when_the_pipeline_opts_in(store_path: str) -> None:
    # A Distiset holds Arrow data only, so the leaf turns the objects back into text.
    with Pipeline(name="pickled", allow_pickle=True) as pipeline:
        LoadDataFromDicts(data=_numbers(), batch_size=5) >> Fractions(name="writer", input_batch_size=5) >> ToText()
    rows = rows_of(pipeline.run(storage_parameters={"path": store_path}, use_cache=False))
    assert rows[4] == {"n": 4, "text": "Fraction 4/3"}
