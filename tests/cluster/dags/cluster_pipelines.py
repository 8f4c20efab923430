"""DAGs for the Celery cluster tests. Rows record where they were processed (columns ``*_where``).

- ``cluster_main``: a slow generator, a row step, a GPU step with two replicas on the ``gpu`` queue,
  a global step and a leaf step. Used for the plain run, the worker kill and the scheduler kill.
- ``cluster_params``: a generator and a row step tagging rows with the run's ``tag`` Param.
- ``cluster_shared_host``: four one-GPU replicas on a pool of four slots, where one host has two GPUs
  and two workers: only the host's GPU claims keep two tasks off one device.
- ``cluster_nostore``: every task on the ``nostore`` queue, whose worker cannot reach the store.
"""

from __future__ import annotations

import os
import time

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import StepInput, StepResources, step
from airflow_dististage.typing import GeneratorStepOutput, StepOutput

ROWS = 24
BATCH_SIZE = 3
SECONDS_PER_BATCH = 0.7
RESCHEDULE_SECONDS = 1.0
GPU_QUEUE = "gpu"
SHARED_POOL = "shared_host_gpu"
SHARED_REPLICAS = 4
SHARED_BATCH_SECONDS = 1.0


def _where() -> dict[str, str]:
    return {
        "devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        "worker": os.environ.get("DISTISTAGE_DEVSTACK_WORKER", "local"),
        "pid": str(os.getpid()),
    }


@step(outputs=["id", "text"], step_type="generator")
def SlowRows(rows: int = ROWS, seconds: float = SECONDS_PER_BATCH) -> GeneratorStepOutput:
    """Yields ``rows`` rows, BATCH_SIZE at a time, one batch per ``seconds``."""
    for start in range(0, rows, BATCH_SIZE):
        time.sleep(seconds)
        end = min(start + BATCH_SIZE, rows)
        yield [{"id": index, "text": f"row{index}"} for index in range(start, end)], end >= rows


@step(inputs=["text"], outputs=["upper"])
def Upper(inputs: StepInput, tag: str = "") -> StepOutput:
    for row in inputs:
        row["upper"] = row["text"].upper() + tag
    yield inputs


@step(inputs=["upper"], outputs=["gpu_text", "gpu_where"])
def OnGpu(inputs: StepInput, seconds: float = 0.0) -> StepOutput:
    """Pretends to use its GPU; records the devices, worker and process it ran on, and when."""
    started = time.time()
    time.sleep(seconds)
    where = {**_where(), "started": started, "ended": time.time()}
    for row in inputs:
        row["gpu_text"] = row["upper"] + "+gpu"
        row["gpu_where"] = dict(where)
    yield inputs


@step(inputs=["gpu_text"], outputs=["rank"], step_type="global")
def Rank(inputs: StepInput) -> StepOutput:
    order = sorted(range(len(inputs)), key=lambda index: inputs[index]["id"], reverse=True)
    for rank, index in enumerate(order):
        inputs[index]["rank"] = rank
    yield inputs


@step(inputs=["rank"], outputs=["even"])
def Even(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["even"] = row["rank"] % 2 == 0
    yield inputs


def main_pipeline() -> Pipeline:
    """Generator >> row step >> GPU step (2 replicas) >> global step >> leaf."""
    with Pipeline(name="cluster-main") as pipeline:
        (
            SlowRows(name="rows")
            >> Upper(name="upper", input_batch_size=BATCH_SIZE)
            >> OnGpu(name="on_gpu", input_batch_size=BATCH_SIZE, resources=StepResources(gpus=1, replicas=2))
            >> Rank(name="rank")
            >> Even(name="even")
        )
    return pipeline


def params_pipeline() -> Pipeline:
    """Generator >> row step with a runtime parameter ``tag``."""
    with Pipeline(name="cluster-params") as pipeline:
        SlowRows(name="rows", rows=6, seconds=0.0) >> Upper(name="upper", input_batch_size=BATCH_SIZE)
    return pipeline


def shared_host_pipeline() -> Pipeline:
    """Four one-GPU replicas that each hold their device SHARED_BATCH_SECONDS per batch."""
    with Pipeline(name="cluster-shared-host") as pipeline:
        (
            SlowRows(name="rows", rows=16, seconds=0.0)
            >> Upper(name="upper", input_batch_size=2)
            >> OnGpu(
                name="on_gpu",
                seconds=SHARED_BATCH_SECONDS,
                input_batch_size=2,
                resources=StepResources(gpus=1, replicas=SHARED_REPLICAS),
            )
        )
    return pipeline


cluster_main = main_pipeline().to_airflow(
    dag_id="cluster_main", queue=GPU_QUEUE, reschedule_seconds=RESCHEDULE_SECONDS, max_active_runs=16
)
cluster_params = params_pipeline().to_airflow(
    dag_id="cluster_params", reschedule_seconds=RESCHEDULE_SECONDS, max_active_runs=16
)
cluster_shared_host = shared_host_pipeline().to_airflow(
    dag_id="cluster_shared_host", queue=GPU_QUEUE, gpu_pool=SHARED_POOL, reschedule_seconds=RESCHEDULE_SECONDS
)
cluster_nostore = params_pipeline().to_airflow(
    dag_id="cluster_nostore", reschedule_seconds=RESCHEDULE_SECONDS, step_retries=0,
    default_args={"queue": "nostore"},
)
