"""A routed pipeline whose generator fails once after three batches; Airflow retries it.

The router sends a batch to the first two branches until the failure and to the last two after
it, so the rows show which decision each batch kept: the three batches written before the
failure must keep theirs.
"""

from __future__ import annotations

from pathlib import Path

from airflow_dististage.pipeline import Pipeline, routing_batch_function
from airflow_dististage.steps import GroupColumns
from tests.routing.steps import FlakyInstructions, Generate

FAILED_ONCE = Path(__file__).with_name("routing_retry.failed_once")


@routing_batch_function
def by_attempt(steps: list[str]) -> list[str]:
    return steps[1:] if FAILED_ONCE.exists() else steps[:2]


with Pipeline(name="routing-retry") as pipeline:
    load = FlakyInstructions(name="load", count=10, batch_size=2, fail_at=3, flag=str(FAILED_ONCE))
    generations = [Generate(name=name, input_batch_size=2) for name in ("tg_a", "tg_b", "tg_c")]
    load >> by_attempt >> generations >> GroupColumns(name="group", columns=["generation", "model_name"])

dag = pipeline.to_airflow(dag_id="routing_retry", reschedule_seconds=1, step_retries=2)
