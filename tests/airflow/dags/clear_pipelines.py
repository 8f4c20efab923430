"""Test DAG for Clear on a real Airflow: a stand-in LLM step that returns None during an "outage".

``clear_recompute``: stage 0 streams load -> generate -> tag (``tag`` is a same-stage successor of
``generate``, so Airflow's "Clear with downstream" on ``generate`` does not reach it), then a
global step. While the file named by ``generate``'s runtime parameter ``outage_file`` exists,
``generate`` yields None generations, as an LLM step does when its server is down.
"""

from __future__ import annotations

import os

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, step
from airflow_dististage.typing import StepOutput

ROWS = 12


@step(inputs=["text"], outputs=["generation"])
def Generate(inputs: StepInput, outage_file: str = "") -> StepOutput:
    down = bool(outage_file) and os.path.exists(outage_file)
    for row in inputs:
        row["generation"] = None if down else row["text"].upper()
    yield inputs


@step(inputs=["generation"], outputs=["tagged"])
def Tag(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["tagged"] = None if row["generation"] is None else row["generation"] + "!"
    yield inputs


@step(inputs=["tagged"], outputs=["tagged"], step_type="global")
def Collect(inputs: StepInput) -> StepOutput:
    yield inputs


with Pipeline(name="clear-recompute") as pipeline:
    (
        LoadDataFromDicts(name="load", data=[{"text": f"row{index}"} for index in range(ROWS)], batch_size=3)
        >> Generate(name="generate", input_batch_size=3)
        >> Tag(name="tag", input_batch_size=3)
        >> Collect(name="collect")
    )
clear_recompute = pipeline.to_airflow(dag_id="clear_recompute", reschedule_seconds=1.0)
