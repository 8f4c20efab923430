"""A pipeline whose loader has no rows: it must run to an empty Distiset, not fail on its columns."""

from __future__ import annotations

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, step
from airflow_dististage.typing import StepOutput


@step(inputs=["instruction"], outputs=["response"])
def Answer(inputs: StepInput) -> StepOutput:
    yield [{**row, "response": row["instruction"].upper()} for row in inputs]


with Pipeline(name="empty-data") as pipeline:
    LoadDataFromDicts(data=[]) >> Answer(name="answer")

dag = pipeline.to_airflow(dag_id="empty_data", reschedule_seconds=1)
