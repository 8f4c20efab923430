"""A DAG whose generator fails once after its first batch, then succeeds on its retry.

Its successor in the same stage has already seen the first batch when the failure is published;
it must wait for the retry (the failure says it will be retried), not fail for good.
"""

from __future__ import annotations

from pathlib import Path

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import StepInput, step
from airflow_dististage.typing import GeneratorStepOutput, StepOutput

FAILED_ONCE = Path(__file__).with_name("flaky_generator.failed_once")
ROWS = ("first", "second")


@step(outputs=["text"], step_type="generator")
def FlakyRows(offset: int = 0) -> GeneratorStepOutput:
    """One row per batch from row ``offset`` on (the retry resumes after the committed rows)."""
    for index in range(offset, len(ROWS)):
        if index == 1 and not FAILED_ONCE.exists():
            FAILED_ONCE.touch()
            raise RuntimeError("a transient failure, on purpose")
        yield [{"text": ROWS[index]}], index == len(ROWS) - 1


@step(inputs=["text"], outputs=["text"])
def Shout(inputs: StepInput) -> StepOutput:
    yield [{"text": row["text"].upper()} for row in inputs]


with Pipeline(name="flaky-generator") as pipeline:
    FlakyRows(name="flaky_rows") >> Shout(name="shout")

dag = pipeline.to_airflow(dag_id="flaky_generator", reschedule_seconds=1, step_retries=2)
