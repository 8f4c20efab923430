"""Pipelines for the compiler tests (the session's throw-away AIRFLOW_HOME is set in ``tests/conftest.py``)."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, Step, StepInput, StepResources, step
from airflow_dististage.typing import StepOutput


class Upper(Step):
    """Upper-cases ``instruction`` into ``response`` and appends ``suffix``."""

    suffix: RuntimeParameter[str] = Field(default="!", description="Appended to each response.")
    temperature: RuntimeParameter[float] = None
    extra: RuntimeParameter[Dict[str, Any]] = Field(default_factory=dict)
    stop: RuntimeParameter[List[str]] = Field(default_factory=list)
    verbose: RuntimeParameter[bool] = False

    @property
    def inputs(self) -> List[str]:
        return ["instruction"]

    @property
    def outputs(self) -> List[str]:
        return ["response"]

    def process(self, inputs: StepInput) -> StepOutput:
        for row in inputs:
            row["response"] = row["instruction"].upper() + self.suffix
        yield inputs


@step(inputs=["response"], outputs=["response"], step_type="global")
def Dedup(inputs: StepInput) -> StepOutput:
    seen: set[str] = set()
    yield [row for row in inputs if not (row["response"] in seen or seen.add(row["response"]))]


def build_gpu_pipeline() -> Pipeline:
    """generator -> gpu step (2 replicas x 1 GPU) -> global -> gpu step (2 GPUs) and a CPU step."""
    with Pipeline(name="gpu-pipeline", description="A pipeline with GPU steps.") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"row {i}"} for i in range(6)], batch_size=2)
        first = Upper(name="first", resources=StepResources(replicas=2, gpus=1))
        dedup = Dedup(name="dedup")
        second = Upper(name="second", input_mappings={"instruction": "response"}, resources=StepResources(gpus=2))
        cpu = Upper(name="cpu", input_mappings={"instruction": "response"})
        load >> first >> dedup >> [second, cpu]
    return pipeline


@pytest.fixture
def gpu_pipeline() -> Pipeline:
    return build_gpu_pipeline()


@pytest.fixture
def compile_options(tmp_path) -> dict[str, str]:
    return {"store": str(tmp_path / "store"), "output": str(tmp_path / "output")}
