"""Tasks: steps that generate with an LLM, named as in ``distilabel.steps.tasks``."""

from __future__ import annotations

from airflow_dististage.steps.tasks.base import Task
from airflow_dististage.steps.tasks.decorator import task
from airflow_dististage.steps.tasks.evol_instruct.base import EvolInstruct
from airflow_dististage.steps.tasks.self_instruct import SelfInstruct
from airflow_dististage.steps.tasks.sentence_transformers import GenerateSentencePair
from airflow_dististage.steps.tasks.text_generation import ChatGeneration, TextGeneration
from airflow_dististage.steps.tasks.ultrafeedback import UltraFeedback

__all__ = [
    "ChatGeneration",
    "EvolInstruct",
    "GenerateSentencePair",
    "SelfInstruct",
    "Task",
    "TextGeneration",
    "UltraFeedback",
    "task",
]
