"""Test DAGs for the real-Airflow tests: CPU stand-ins for GPU steps, and pools that cannot hold them.

- ``gpu_standin``: a slow generator and two steps declaring ``gpus=1`` stream in stage 0 (one-slot
  pool: the two must take turns), a global step, then a step with a runtime parameter ``suffix``.
  Rows record when and where each step processed them.
- ``gpu_pool_missing``: a GPU step routed to a pool that does not exist.
- ``gpu_pool_too_small``: a step needing 2 GPUs per replica on the one-slot pool.
"""

from __future__ import annotations

import os
import time

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepInput, StepResources, step
from airflow_dististage.typing import GeneratorStepOutput, StepOutput

ROWS = 18
BATCH_SIZE = 3
SECONDS_PER_BATCH = 2.0
RESCHEDULE_SECONDS = 1.0


@step(outputs=["text", "generated_at"], step_type="generator")
def SlowRows(offset: int = 0) -> GeneratorStepOutput:
    """Yields ROWS rows, BATCH_SIZE at a time, one batch per SECONDS_PER_BATCH."""
    for start in range(offset, ROWS, BATCH_SIZE):
        time.sleep(SECONDS_PER_BATCH)
        end = min(start + BATCH_SIZE, ROWS)
        yield [{"text": f"row{index}", "generated_at": time.time()} for index in range(start, end)], end >= ROWS


@step(inputs=["text"], outputs=["text"])
def GpuStandIn(inputs: StepInput, tag: str = "gpu") -> StepOutput:
    """Pretends to use a GPU: takes a while per batch, records when and on which devices it ran."""
    started = time.time()
    time.sleep(SECONDS_PER_BATCH / 2)
    for row in inputs:
        row["text"] = row["text"] + "+"
        row[f"{tag}_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        row[f"{tag}_started"] = started
        row[f"{tag}_ended"] = time.time()
    yield inputs


@step(inputs=["text"], outputs=["text"], step_type="global")
def Collect(inputs: StepInput) -> StepOutput:
    yield inputs


@step(inputs=["text"], outputs=["text"])
def AddSuffix(inputs: StepInput, suffix: str = "!") -> StepOutput:
    for row in inputs:
        row["text"] = row["text"] + suffix
    yield inputs


def _rows() -> list[dict[str, str]]:
    return [{"text": f"row{index}"} for index in range(ROWS)]


with Pipeline(name="gpu-standin") as standin:
    (
        SlowRows(name="slow_rows")
        >> GpuStandIn(name="gpu_a", tag="gpu_a", resources=StepResources(gpus=1), input_batch_size=BATCH_SIZE)
        >> GpuStandIn(name="gpu_b", tag="gpu_b", resources=StepResources(gpus=1), input_batch_size=BATCH_SIZE)
        >> Collect(name="collect")
        >> AddSuffix(name="add_suffix")
    )
gpu_standin = standin.to_airflow(dag_id="gpu_standin", reschedule_seconds=RESCHEDULE_SECONDS)

with Pipeline(name="gpu-pool-missing") as missing:
    LoadDataFromDicts(data=_rows()) >> GpuStandIn(name="gpu_step", resources=StepResources(gpus=1))
gpu_pool_missing = missing.to_airflow(dag_id="gpu_pool_missing", gpu_pool="dististage_missing_pool")

with Pipeline(name="gpu-pool-too-small") as too_small:
    LoadDataFromDicts(data=_rows()) >> GpuStandIn(name="gpu_step", resources=StepResources(gpus=2))
gpu_pool_too_small = too_small.to_airflow(dag_id="gpu_pool_too_small")
