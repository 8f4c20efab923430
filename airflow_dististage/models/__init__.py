"""``distilabel.models`` (distilabel >= 1.5): the LLMs under their newer import path."""

from __future__ import annotations

from airflow_dististage.llms import (
    LLM,
    AsyncLLM,
    ClientvLLM,
    InferenceEndpointsLLM,
    OpenAILLM,
    TransformersLLM,
    vLLM,
)

__all__ = ["LLM", "AsyncLLM", "ClientvLLM", "InferenceEndpointsLLM", "OpenAILLM", "TransformersLLM", "vLLM"]
