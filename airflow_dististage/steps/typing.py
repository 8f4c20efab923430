"""``distilabel.steps.typing`` (distilabel < 1.5): the step type aliases under their older path."""

from __future__ import annotations

from airflow_dististage.typing import GeneratorStepOutput, StepColumns, StepOutput

__all__ = ["GeneratorStepOutput", "StepColumns", "StepOutput"]
