"""``distilabel.models.llms.huggingface``: the Hugging Face LLMs."""

from __future__ import annotations

from airflow_dististage.llms.inference_endpoints import InferenceEndpointsLLM
from airflow_dististage.llms.transformers import TransformersLLM

__all__ = ["InferenceEndpointsLLM", "TransformersLLM"]
