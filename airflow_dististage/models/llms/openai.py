"""``distilabel.models.llms.openai``."""

from __future__ import annotations

from airflow_dististage.llms.openai import OpenAILLM

__all__ = ["OpenAILLM"]
