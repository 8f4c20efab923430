"""A DAG whose generator fails after its first batch on every try: once its one retry failed too,
its successor must fail, not wait forever."""

from __future__ import annotations

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import StepInput, step
from airflow_dististage.typing import GeneratorStepOutput, StepOutput


@step(outputs=["text"], step_type="generator")
def BrokenRows(offset: int = 0) -> GeneratorStepOutput:
    yield [{"text": "first"}], False
    raise RuntimeError("the generator broke on purpose")


@step(inputs=["text"], outputs=["text"])
def Shout(inputs: StepInput) -> StepOutput:
    yield [{"text": row["text"].upper()} for row in inputs]


with Pipeline(name="failing-generator") as pipeline:
    BrokenRows(name="broken_rows") >> Shout(name="shout")

dag = pipeline.to_airflow(dag_id="failing_generator", reschedule_seconds=1, step_retries=1)
