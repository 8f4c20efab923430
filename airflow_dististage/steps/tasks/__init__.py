"""Tasks: steps that generate with an LLM, named as in ``distilabel.steps.tasks``."""

from __future__ import annotations

from airflow_dististage.steps.tasks.base import Task
from airflow_dististage.steps.tasks.text_generation import ChatGeneration, TextGeneration

__all__ = ["ChatGeneration", "Task", "TextGeneration"]
