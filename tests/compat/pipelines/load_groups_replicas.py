"""Load groups that split a pipeline into stages, and a step run as two replicas.

Modelled on distilabel 1.5.3's how-to guides "Load groups and execution stages"
(sections/how_to_guides/advanced/load_groups_and_execution_stages: ``pipeline.run(load_groups=[[...],
[...]])`` so that two LLM steps are never loaded together) and "Assigning resources to a step"
(sections/how_to_guides/advanced/assigning_resources_to_step: ``resources=StepResources(replicas=2)``).

Which replica processes which batch is up to distilabel, and so is the order in which a successor
receives their batches: the rows of ``keep`` (downstream of the replicated step) are compared sorted.
"""

import os

from compat_llms import HashLLM
from distilabel.pipeline import Pipeline
from distilabel.steps import KeepColumns, LoadDataFromDicts, StepInput, StepResources, step
from distilabel.steps.tasks import TextGeneration
from distilabel.typing import StepOutput

UNORDERED_CONFIGS = ("keep",)


@step(inputs=["instruction"], outputs=["shout"])
def Shout(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["shout"] = row["instruction"].upper() + "!"
    yield inputs


def main(workdir: str):
    with Pipeline(name="compat-load-groups", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        load = LoadDataFromDicts(
            name="load", data=[{"instruction": f"tell me about number {i}"} for i in range(12)], batch_size=3
        )
        shout = Shout(name="shout", resources=StepResources(replicas=2), input_batch_size=2)
        keep = KeepColumns(name="keep", columns=["shout"])
        first = TextGeneration(name="first", llm=HashLLM(model="first-llm"), input_batch_size=4)
        second = TextGeneration(
            name="second",
            llm=HashLLM(model="second-llm"),
            input_mappings={"instruction": "generation"},
            output_mappings={"generation": "second_generation", "model_name": "second_model"},
            input_batch_size=5,
        )
        load >> shout >> keep
        load >> first >> second

    return pipeline.run(load_groups=[["load", "shout", "keep"], ["first"], ["second"]], use_cache=False)
