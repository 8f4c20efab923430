"""A DAG with a step in three replicas (a mapped task): together they must process every row once."""

from __future__ import annotations

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, StepResources, step
from airflow_dististage.typing import StepOutput


@step(inputs=["number"], outputs=["square"])
def Square(inputs: StepInput) -> StepOutput:
    yield [{**row, "square": row["number"] ** 2} for row in inputs]


with Pipeline(name="replicated-step") as pipeline:
    numbers = LoadDataFromDicts(data=[{"number": n} for n in range(20)], batch_size=4)
    numbers >> Square(name="square", resources=StepResources(replicas=3), input_batch_size=4)

dag = pipeline.to_airflow(dag_id="replicated_step", reschedule_seconds=1)
