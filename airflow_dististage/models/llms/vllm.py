"""``distilabel.models.llms.vllm``."""

from __future__ import annotations

from airflow_dististage.llms.client_vllm import ClientvLLM
from airflow_dististage.llms.vllm import vLLM

__all__ = ["ClientvLLM", "vLLM"]
