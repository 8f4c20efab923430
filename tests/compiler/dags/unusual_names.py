"""A pipeline named as distilabel's docs name theirs, compiled under a DAG id with a dot and an accent."""

from __future__ import annotations

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, StepResources, step
from airflow_dististage.typing import StepOutput


@step(inputs=["persona"], outputs=["greeting"])
def Greet(inputs: StepInput) -> StepOutput:
    yield [{**row, "greeting": f"Hello, {row['persona']}"} for row in inputs]


with Pipeline(name="Social AI Personas") as pipeline:
    LoadDataFromDicts(data=[{"persona": f"p{i}"} for i in range(5)], batch_size=2) >> Greet(
        name="greet", resources=StepResources(replicas=2), input_batch_size=2
    )

dag = pipeline.to_airflow(dag_id="team.synth_données", reschedule_seconds=1)
