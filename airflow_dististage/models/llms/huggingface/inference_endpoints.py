"""``distilabel.models.llms.huggingface.inference_endpoints``."""

from __future__ import annotations

from airflow_dististage.llms.inference_endpoints import InferenceEndpointsLLM

__all__ = ["InferenceEndpointsLLM"]
