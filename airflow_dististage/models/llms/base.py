"""``distilabel.models.llms.base``: the LLM base classes."""

from __future__ import annotations

from airflow_dististage.llms.async_llm import AsyncLLM
from airflow_dististage.llms.base import LLM

__all__ = ["LLM", "AsyncLLM"]
