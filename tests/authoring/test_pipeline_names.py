"""Pipeline names: every name distilabel accepts builds, plans and runs, each in its own store folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime.folders import safe_folder_name
from airflow_dististage.steps import LoadDataFromDicts, StepInput, step
from airflow_dististage.typing import StepOutput


@step(inputs=["instruction"], outputs=["response"])
def Shout(inputs: StepInput) -> StepOutput:
    yield [{**row, "response": row["instruction"].upper()} for row in inputs]


@pytest.mark.parametrize(
    "name", ["Social AI Personas", "team.synth", "données", "a/b", "..", "名前 ~ 1", "x" * 200]
)
def test_names_distilabel_accepts_build_and_plan(name: str) -> None:
    with Pipeline(name=name) as pipeline:
        LoadDataFromDicts(data=[{"instruction": "hi"}]) >> Shout()
    assert pipeline.name == name
    assert pipeline.plan().pipeline_name == name


@pytest.mark.parametrize("name", [None, ""])
def test_no_name_falls_back_to_the_default_as_in_distilabel(name: str | None) -> None:
    assert Pipeline(name=name).name == "pipeline"


def test_a_name_that_is_not_a_string_is_refused_naming_it() -> None:
    with pytest.raises(TypeError, match="Invalid pipeline name 3: .*string"):
        Pipeline(name=3)


def test_a_pipeline_named_like_distilabels_docs_runs_in_one_folder(tmp_path: Path) -> None:
    with Pipeline(name="Social AI Personas") as pipeline:
        LoadDataFromDicts(data=[{"instruction": f"p{i}"} for i in range(3)]) >> Shout()
    distiset = pipeline.run(use_cache=False, storage_parameters={"path": str(tmp_path)})

    assert distiset["default"]["train"].to_list() == [{"instruction": f"p{i}", "response": f"P{i}"} for i in range(3)]
    assert [entry.name for entry in tmp_path.iterdir()] == [safe_folder_name("Social AI Personas")]
