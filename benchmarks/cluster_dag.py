"""The DAG of ``benchmarks/cluster.py``: local_runner.py's five-step pipeline, its rows from a generator.

    Rows(batch_size=1000) >> Upper >> Length >> Rank (global) >> Even

The rows come from a generator step rather than ``LoadDataFromDicts(data=...)``, which would put
every row into the DAG's Params. ``BENCHMARK_ROWS`` sets the row count (default 200,000).
"""

from __future__ import annotations

import os

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import StepInput, step
from airflow_dististage.typing import GeneratorStepOutput, StepOutput

ROW_BATCH = 1000
ROWS = int(os.environ.get("BENCHMARK_ROWS", "200000"))
DAG_ID = "cluster_benchmark"


@step(outputs=["instruction"], step_type="generator")
def Rows(rows: int = ROWS) -> GeneratorStepOutput:
    for start in range(0, rows, ROW_BATCH):
        end = min(start + ROW_BATCH, rows)
        yield [{"instruction": f"write a poem about number {i}"} for i in range(start, end)], end >= rows


@step(inputs=["instruction"], outputs=["upper"])
def Upper(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["upper"] = row["instruction"].upper()
    yield inputs


@step(inputs=["upper"], outputs=["length"])
def Length(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["length"] = len(row["upper"])
    yield inputs


@step(inputs=["length"], outputs=["rank"], step_type="global")
def Rank(inputs: StepInput) -> StepOutput:
    order = sorted(range(len(inputs)), key=lambda index: inputs[index]["length"])
    for rank, index in enumerate(order):
        inputs[index]["rank"] = rank
    yield inputs


@step(inputs=["rank"], outputs=["even"])
def Even(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["even"] = row["rank"] % 2 == 0
    yield inputs


def benchmark_pipeline() -> Pipeline:
    """The five steps, ROW_BATCH rows per batch."""
    with Pipeline(name="benchmark") as pipeline:
        (
            Rows(name="rows", batch_size=ROW_BATCH)
            >> Upper(name="upper", input_batch_size=ROW_BATCH)
            >> Length(name="length", input_batch_size=ROW_BATCH)
            >> Rank(name="rank")
            >> Even(name="even", input_batch_size=ROW_BATCH)
        )
    return pipeline


cluster_benchmark = benchmark_pipeline().to_airflow(dag_id=DAG_ID, reschedule_seconds=1.0)
