"""The pipeline, named as in ``distilabel.pipeline``."""

from __future__ import annotations

from airflow_dististage.pipeline.base import Pipeline, PipelineValidationError

__all__ = ["Pipeline", "PipelineValidationError"]
