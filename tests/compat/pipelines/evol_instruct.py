"""EvolInstruct evolving instructions, storing the evolutions and answering them.

Modelled on the ``EvolInstruct`` docstring examples of distilabel 1.5.3
(``distilabel.steps.tasks.evol_instruct.base``: "Evolve an instruction using an LLM", "Keep the
iterations of the evolutions", "Generate answers for the instructions in a single step"). distilabel
picks each mutation with an unseeded ``numpy.random.choice``, so every step here is given a single
mutation template (a custom ``mutation_templates`` dict, as the class allows): the pick is then fixed.

Each step takes one row per batch (``input_batch_size=1``): distilabel gives every row the token
statistics of its whole batch, we give each row its own (README, "LLMs and tasks"); with one row per
batch both are the same. ``generate_answers`` comes with a single evolution, as distilabel answers the
wrong instructions after several without ``store_evolutions``.
"""

import os

from compat_llms import HashLLM
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import EvolInstruct

DEEPEN = {
    "DEEPEN": (
        "Rewrite the prompt so that it needs more steps of reasoning.\n\n"
        "#The Given Prompt#:\n<PROMPT>\n#Rewritten Prompt#:\n\n"
    )
}
BREADTH = {"BREADTH": "Write a brand-new prompt in the same domain as:\n<PROMPT>\n#Created Prompt#:\n"}


def main(workdir: str):
    with Pipeline(name="compat-evol-instruct", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        seeds = LoadDataFromDicts(
            name="seeds",
            data=[
                {"instruction": "common instruction"},
                {"instruction": "Sort a list."},
                {"instruction": "Cook rice."},
            ],
            batch_size=2,
        )
        seeds >> EvolInstruct(
            name="evolve", llm=HashLLM(model="evolver"), num_evolutions=2, mutation_templates=DEEPEN, input_batch_size=1
        )
        seeds >> EvolInstruct(
            name="evolve_stored",
            llm=HashLLM(model="evolver"),
            num_evolutions=2,
            store_evolutions=True,
            mutation_templates=BREADTH,
            input_batch_size=1,
        )
        seeds >> EvolInstruct(
            name="evolve_answered",
            llm=HashLLM(model="evolver"),
            num_evolutions=1,
            generate_answers=True,
            mutation_templates=DEEPEN,
            input_batch_size=1,
        )

    return pipeline.run(use_cache=False)
