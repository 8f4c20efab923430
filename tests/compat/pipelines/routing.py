"""Routing each batch to some of the downstream steps, then grouping what they produced.

Modelled on distilabel 1.5.3's how-to guide "Execute Steps and Tasks in a Pipeline"
(sections/how_to_guides/basic/pipeline/index, "Routing batches to specific downstream steps": a
``@routing_batch_function`` that samples two of the downstream steps, and ``sample_n_steps(2)``, in
``load_dataset >> route >> [generation_a, generation_b, generation_c] >> GroupColumns``) and on the
``sample_n_steps`` docstring example (``distilabel.pipeline.routing_batch_function``).

Both samplers are seeded, so the routes are fixed: the decorated function draws from its own
``random.Random``; ``sample_n_steps`` draws from the global ``random`` module, seeded before the run.
The routing function sorts the step names it is given, so its picks do not depend on their order.
"""

import os
import random
from typing import List

from compat_llms import HashLLM
from distilabel.pipeline import Pipeline, routing_batch_function, sample_n_steps
from distilabel.steps import GroupColumns, LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration

ROUTING_RNG = random.Random(1234)


# `@routing_batch_function()` with parentheses: distilabel 1.5.3's decorator is a factory (its own
# docstring's bare `@routing_batch_function` fails there).
@routing_batch_function(description="Sample two of the downstream steps.")
def sample_two_steps(steps: List[str]) -> List[str]:
    return ROUTING_RNG.sample(sorted(steps), 2)


def main(workdir: str):
    random.seed(4321)
    with Pipeline(name="compat-routing", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        load_dataset = LoadDataFromDicts(
            name="load_dataset", data=[{"instruction": f"Question {i}?"} for i in range(8)], batch_size=2
        )
        generations = [
            TextGeneration(name=f"generation_{model}", llm=HashLLM(model=model), input_batch_size=2)
            for model in ("a", "b", "c")
        ]
        # distilabel requires a convergence step's input_batch_size to be at most its predecessors'.
        group = GroupColumns(name="group", columns=["generation", "model_name"], input_batch_size=2)
        load_dataset >> sample_two_steps >> generations >> group

        load_more = LoadDataFromDicts(
            name="load_more", data=[{"instruction": f"Task {i}."} for i in range(6)], batch_size=3
        )
        more = [
            TextGeneration(name=f"more_{model}", llm=HashLLM(model=model), input_batch_size=3)
            for model in ("d", "e", "f")
        ]
        group_more = GroupColumns(
            name="group_more", columns=["generation", "model_name"], output_columns=["generations", "models"],
            input_batch_size=3,
        )
        load_more >> sample_n_steps(2) >> more >> group_more

    return pipeline.run(use_cache=False)
