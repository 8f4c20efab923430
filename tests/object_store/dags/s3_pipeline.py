"""A DAG whose store, output and connection come from ``[dististage]`` (the test sets them to an S3
bucket and ``store_conn_id``): a generator and a step in two replicas."""

from __future__ import annotations

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, StepResources, step
from airflow_dististage.typing import StepOutput


@step(inputs=["number"], outputs=["square"])
def Square(inputs: StepInput) -> StepOutput:
    yield [{**row, "square": row["number"] ** 2} for row in inputs]


with Pipeline(name="s3-pipeline") as pipeline:
    numbers = LoadDataFromDicts(data=[{"number": n} for n in range(12)], batch_size=4)
    numbers >> Square(name="square", resources=StepResources(replicas=2), input_batch_size=4)

dag = pipeline.to_airflow(dag_id="s3_pipeline", reschedule_seconds=1)
