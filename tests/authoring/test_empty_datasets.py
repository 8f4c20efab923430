"""Empty data: every form of no rows runs to an empty Distiset whose columns come from the declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_dististage.pipeline import Pipeline, PipelineValidationError
from airflow_dististage.steps import LoadDataFromDicts, StepInput, step
from airflow_dististage.typing import StepOutput


@step(inputs=["instruction"], outputs=["response"])
def Answer(inputs: StepInput) -> StepOutput:
    yield [{**row, "response": row["instruction"].upper()} for row in inputs]


@step(inputs=["response"], outputs=["score"])
def Score(inputs: StepInput) -> StepOutput:
    yield [{**row, "score": len(row["response"])} for row in inputs]


@step(inputs=["instruction"], outputs=["dropped"])
def Drop(inputs: StepInput) -> StepOutput:
    yield []


def _pipeline(name: str) -> Pipeline:
    with Pipeline(name=name) as pipeline:
        Answer() >> Score()
    return pipeline


def _empty_frame():
    import pandas as pd

    return pd.DataFrame({"instruction": pd.Series([], dtype=str), "id": pd.Series([], dtype=int)})


def _empty_dataset():
    from datasets import Dataset

    return Dataset.from_dict({"instruction": [], "id": []})


def _run(pipeline: Pipeline, tmp_path: Path, **kwargs):
    """``pipeline.run()``'s Distiset, and the Distiset of the same stored run with the pipeline's known columns."""
    from airflow_dististage.distiset import create_distiset
    from airflow_dististage.runtime import lineage_fingerprints
    from airflow_dististage.runtime.local import LOCAL_RUN_ID
    from airflow_dististage.runtime.store import BatchStore

    distiset = pipeline.run(use_cache=False, storage_parameters={"path": str(tmp_path)}, **kwargs)
    plan = pipeline.plan()
    store = BatchStore(str(tmp_path), pipeline.name, LOCAL_RUN_ID)
    declared = create_distiset(store, plan, lineage_fingerprints(pipeline, plan), pipeline.known_columns())
    return distiset, declared


EMPTY = [
    (list, ["instruction", "response", "score"]),
    (_empty_frame, ["instruction", "id", "response", "score"]),
    (_empty_dataset, ["instruction", "id", "response", "score"]),
]


@pytest.mark.parametrize(("make", "columns"), EMPTY, ids=["list", "pandas", "datasets"])
def test_an_empty_dataset_runs_to_an_empty_distiset_with_the_declared_columns(make, columns, tmp_path: Path) -> None:
    distiset, declared = _run(_pipeline("empty-dataset"), tmp_path, dataset=make())
    assert distiset["default"]["train"].num_rows == 0
    assert declared["default"]["train"].num_rows == 0
    assert declared["default"]["train"].column_names == columns


@pytest.mark.parametrize(("make", "columns"), EMPTY, ids=["list", "pandas", "datasets"])
def test_pipeline_run_gives_an_empty_leaf_its_declared_columns(make, columns, tmp_path: Path) -> None:
    distiset, _ = _run(_pipeline("empty-dataset"), tmp_path, dataset=make())
    assert distiset["default"]["train"].column_names == columns


def test_a_loader_without_rows_runs_to_an_empty_distiset(tmp_path: Path) -> None:
    with Pipeline(name="empty-loader") as pipeline:
        LoadDataFromDicts(data=[]) >> Answer()
    distiset, declared = _run(pipeline, tmp_path)
    assert distiset["default"]["train"].num_rows == 0
    assert declared["default"]["train"].column_names == ["instruction", "response"]


def test_a_leaf_with_rows_keeps_its_own_columns(tmp_path: Path) -> None:
    with Pipeline(name="rows-and-empty") as pipeline:
        loader = LoadDataFromDicts(data=[{"instruction": "a"}])
        loader >> Answer() >> Score()
        loader >> Drop()
    distiset, declared = _run(pipeline, tmp_path)
    assert declared["score_0"]["train"].to_list() == [{"instruction": "a", "response": "A", "score": 1}]
    assert declared["drop_0"]["train"].num_rows == 0
    assert declared["drop_0"]["train"].column_names == ["instruction", "dropped"]
    assert distiset["score_0"]["train"].to_list() == declared["score_0"]["train"].to_list()


def test_an_empty_distiset_round_trips_through_disk(tmp_path: Path) -> None:
    from airflow_dististage.distiset import Distiset

    _, declared = _run(_pipeline("empty-round-trip"), tmp_path / "store", dataset=[])
    declared.save_to_disk(tmp_path / "saved")
    train = Distiset.load_from_disk(tmp_path / "saved")["default"]["train"]
    assert (train.num_rows, train.column_names) == (0, ["instruction", "response", "score"])


def test_a_loader_without_rows_but_with_columns_is_checked_like_one_with_rows() -> None:
    with Pipeline(name="empty-columns") as pipeline:
        LoadDataFromDicts(data=[], columns=["prompt"]) >> Answer()
    with pytest.raises(PipelineValidationError, match="needs column 'instruction'.*Available columns: \\['prompt'\\]"):
        pipeline.validate()


def test_an_empty_table_without_the_needed_column_is_refused_before_running(tmp_path: Path) -> None:
    import pandas as pd

    with pytest.raises(PipelineValidationError, match="needs column 'instruction'.*Available columns: \\['prompt'\\]"):
        _pipeline("empty-wrong-column").run(
            dataset=pd.DataFrame({"prompt": []}), storage_parameters={"path": str(tmp_path)}
        )


def test_the_known_columns_of_each_step_follow_the_declarations() -> None:
    with Pipeline(name="known") as pipeline:
        loader = LoadDataFromDicts(data=[])
        loader >> Answer(output_mappings={"response": "answer"}, input_mappings={"instruction": "prompt"})
    assert pipeline.known_columns() == {"load_data_from_dicts_0": [], "answer_0": ["prompt", "answer"]}
