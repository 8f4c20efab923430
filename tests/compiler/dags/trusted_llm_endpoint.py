"""A DAG whose LLM endpoint and key come from the Airflow connection ``trusted_llm`` only.

A run's conf may tune the requests (concurrency, sampling) but never where they go.
"""

from __future__ import annotations

from airflow_dististage.llms import OpenAILLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts
from airflow_dististage.steps.tasks import TextGeneration

with Pipeline(name="trusted-llm-endpoint") as pipeline:
    questions = LoadDataFromDicts(data=[{"instruction": f"question {i}"} for i in range(6)])
    questions >> TextGeneration(
        name="text_generation", llm=OpenAILLM(model="tiny", conn_id="trusted_llm", max_retries=0)
    )

dag = pipeline.to_airflow(dag_id="trusted_llm_endpoint", reschedule_seconds=1)
