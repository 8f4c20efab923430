"""A DAG for the run-view test: it runs until the test has looked at it, then finishes in seconds.

``run_view_live``: one stage, a generator streaming into a step with two replicas (the test's run
with several stages is ``gpu_standin``'s). Given ``trickle__release_file`` in the run's conf, the
generator holds its last batch until that file exists (at most HOLD_TIMEOUT_S), so the test sees
the run live whatever Airflow's pace.
Rows carry a long value (cut in the preview) and markup (shown as text, never rendered).
"""

from __future__ import annotations

import os
import time

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import StepInput, StepResources, step
from airflow_dististage.typing import GeneratorStepOutput, StepOutput

ROWS = 24
BATCH_SIZE = 3
SECONDS_PER_BATCH = 0.2
HOLD_TIMEOUT_S = 120.0
LONG_TEXT = "long " * 100
MARKUP = "<b id='injected'>bold</b>"


@step(outputs=["text", "long", "markup"], step_type="generator")
def Trickle(offset: int = 0, release_file: str = "") -> GeneratorStepOutput:
    """ROWS rows, BATCH_SIZE at a time, one batch per SECONDS_PER_BATCH; the last one once
    ``release_file`` exists (if given)."""
    for start in range(offset, ROWS, BATCH_SIZE):
        time.sleep(SECONDS_PER_BATCH)
        end = min(start + BATCH_SIZE, ROWS)
        deadline = time.monotonic() + HOLD_TIMEOUT_S
        while end >= ROWS and release_file and not os.path.exists(release_file) and time.monotonic() < deadline:
            time.sleep(0.2)
        rows = [{"text": f"row {index}", "long": LONG_TEXT, "markup": MARKUP} for index in range(start, end)]
        yield rows, end >= ROWS


@step(inputs=["text"], outputs=["length"])
def Measure(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["length"] = len(row["text"])
    yield inputs


with Pipeline(name="run-view-live") as live:
    (
        Trickle(name="trickle")
        >> Measure(name="measure", input_batch_size=BATCH_SIZE, resources=StepResources(replicas=2))
    )
run_view_live = live.to_airflow(dag_id="run_view_live", reschedule_seconds=1.0)
