"""``distilabel.models.llms.vllm``."""

from __future__ import annotations

from airflow_dististage.llms.vllm import vLLM

__all__ = ["vLLM"]
