"""Prints how long ``load_groups="auto"`` takes to plan 200-step pipelines (exact search and greedy fallback).

Each pipeline is a loader, then blocks of parallel GPU generations (1, 2 or 4 GPUs in all, some as
2 replicas), each followed by a formatting step, all joined by a combining step; every third block
ends in a global deduplication. Run: ``python benchmarks/auto_plan_cost.py``.
"""

from __future__ import annotations

import random
import time

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.planning import EXACT_SEARCH_LIMIT
from airflow_dististage.steps import LoadDataFromDicts, StepInput, StepResources, step

STEPS = 200


@step(inputs=["x"], outputs=["x"])
def Generate(inputs: StepInput):
    yield inputs


@step(inputs=["x"], outputs=["x"])
def Combine(*inputs: StepInput):
    yield inputs[0]


@step(inputs=["x"], outputs=["x"], step_type="global")
def Dedup(inputs: StepInput):
    yield inputs


def pipeline_with(gpu_steps: int, seed: int = 0) -> Pipeline:
    """A :data:`STEPS`-step pipeline with ``gpu_steps`` GPU-holding steps (see the module docstring)."""
    rng = random.Random(seed)
    with Pipeline(name=f"auto-{gpu_steps}") as pipeline:
        previous = LoadDataFromDicts(data=[{"x": 1}])
        made, block = 1, 0
        while made < STEPS:
            width = min(rng.randint(2, 6), (STEPS - made - 2) // 2)
            if width < 1:
                break
            formats = []
            for _ in range(width):
                holds = made < STEPS and gpu_steps > 0
                gpus, replicas = rng.choice([(1, 1), (1, 1), (1, 2), (2, 1), (2, 2), (4, 1)])
                resources = StepResources(gpus=gpus, replicas=replicas) if holds else None
                gpu_steps -= holds
                generation = Generate(resources=resources) if resources else Generate()
                formats.append(generation >> Generate())
                previous >> generation
                made += 2
            previous = formats >> Combine()
            made += 1
            block += 1
            if block % 3 == 0 and made < STEPS:
                previous = previous >> Dedup()
                made += 1
        while made < STEPS:
            previous = previous >> Generate()
            made += 1
    return pipeline


def measure(pipeline: Pipeline, gpus: int, repeats: int = 3) -> tuple[float, int]:
    """Best-of-``repeats`` seconds of ``get_load_stages("auto", gpus)`` and the stage count."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        stages, _ = pipeline.get_load_stages(load_groups="auto", gpus=gpus)
        best = min(best, time.perf_counter() - start)
    return best, len(stages)


def main() -> None:
    print(f"{'steps':>6} {'GPU steps':>9} {'gpus':>5} {'mode':>7} {'stages':>7} {'plan s':>8}")
    for gpu_steps in (EXACT_SEARCH_LIMIT, 80):
        pipeline = pipeline_with(gpu_steps)
        holding = sum(1 for step in pipeline.steps.values() if step.resources.gpus_per_replica)
        mode = "exact" if holding <= EXACT_SEARCH_LIMIT else "greedy"
        for gpus in (4, 8, 16):
            seconds, stages = measure(pipeline, gpus)
            print(f"{len(pipeline.steps):>6} {holding:>9} {gpus:>5} {mode:>7} {stages:>7} {seconds:>8.3f}")


if __name__ == "__main__":
    main()
