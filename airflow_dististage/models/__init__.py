"""``distilabel.models`` (distilabel >= 1.5): the LLMs under their newer import path."""

from __future__ import annotations

from airflow_dististage.llms import LLM, AsyncLLM, InferenceEndpointsLLM, OpenAILLM, TransformersLLM, vLLM

__all__ = ["LLM", "AsyncLLM", "InferenceEndpointsLLM", "OpenAILLM", "TransformersLLM", "vLLM"]
