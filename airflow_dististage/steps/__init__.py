"""Steps and their building blocks, named as in ``distilabel.steps``."""

from __future__ import annotations

from airflow_dististage.steps.base import GeneratorStep, GlobalStep, Step, StepInput
from airflow_dististage.steps.decorator import step
from airflow_dististage.steps.generators.data import LoadDataFromDicts
from airflow_dististage.steps.resources import StepResources
from airflow_dististage.typing import GeneratorStepOutput, StepOutput

__all__ = [
    "GeneratorStep",
    "GeneratorStepOutput",
    "GlobalStep",
    "LoadDataFromDicts",
    "Step",
    "StepInput",
    "StepOutput",
    "StepResources",
    "step",
]
