"""Language models a task generates with, named as in ``distilabel.llms`` / ``distilabel.models``.

Importing this package imports no model library: each LLM imports its own in ``load()``.
"""

from __future__ import annotations

from airflow_dististage.llms.async_llm import AsyncLLM
from airflow_dististage.llms.base import LLM, ChatType, GenerateOutput, LLMStatistics
from airflow_dististage.llms.client_vllm import ClientvLLM
from airflow_dististage.llms.inference_endpoints import InferenceEndpointsLLM
from airflow_dististage.llms.openai import OpenAILLM
from airflow_dististage.llms.secret import Secret
from airflow_dististage.llms.transformers import TransformersLLM
from airflow_dististage.llms.vllm import vLLM

__all__ = [
    "LLM",
    "AsyncLLM",
    "ChatType",
    "ClientvLLM",
    "GenerateOutput",
    "InferenceEndpointsLLM",
    "LLMStatistics",
    "OpenAILLM",
    "Secret",
    "TransformersLLM",
    "vLLM",
]
