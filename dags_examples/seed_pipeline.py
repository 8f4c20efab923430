"""The seed example: a generator, a step, a global step and another step, as an Airflow DAG.

Drop this file into an Airflow dags folder to get the DAG ``seed_pipeline``; run it as a script
to print its load stages.
"""

from __future__ import annotations

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, step
from airflow_dististage.typing import StepOutput


@step(inputs=["instruction"], outputs=["response"])
def DummyStep(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["response"] = row["instruction"].upper()
    yield inputs


@step(inputs=["instruction"], outputs=["instruction"], step_type="global")
def GlobalDummyStep(inputs: StepInput) -> StepOutput:
    yield inputs


def build_pipeline(rows: int = 50) -> Pipeline:
    """The seed pipeline with ``rows`` input rows."""
    with Pipeline(name="seed-pipeline") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "Hi"}] * rows) >> DummyStep() >> GlobalDummyStep() >> DummyStep()
    return pipeline


pipeline = build_pipeline()
dag = pipeline.to_airflow(dag_id="seed_pipeline")

if __name__ == "__main__":
    print(pipeline.plan().describe())
