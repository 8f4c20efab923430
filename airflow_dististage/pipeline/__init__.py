"""The pipeline, named as in ``distilabel.pipeline``."""

from __future__ import annotations

from airflow_dististage.pipeline.base import Pipeline, PipelineValidationError
from airflow_dististage.pipeline.routing_batch_function import routing_batch_function, sample_n_steps

__all__ = ["Pipeline", "PipelineValidationError", "routing_batch_function", "sample_n_steps"]
