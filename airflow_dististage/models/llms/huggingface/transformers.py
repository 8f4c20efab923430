"""``distilabel.models.llms.huggingface.transformers``."""

from __future__ import annotations

from airflow_dististage.llms.transformers import TransformersLLM

__all__ = ["TransformersLLM"]
