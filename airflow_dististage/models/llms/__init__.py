"""``distilabel.models.llms``: the LLMs under distilabel 1.5's full import path."""

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
