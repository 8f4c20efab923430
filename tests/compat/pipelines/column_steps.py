"""GroupColumns, MergeColumns and KeepColumns after two LLMs answer the same prompts.

Modelled on the how-to guide "Execute Steps and Tasks in a Pipeline" of distilabel 1.5.3
(sections/how_to_guides/basic/pipeline/index: ``load_dataset >> [generation_1, generation_2] >>
combine``, a loader with ``output_mappings={"prompt": "instruction"}``) and on the docstring examples of
``GroupColumns`` (with and without ``output_columns``), ``MergeColumns`` and ``KeepColumns``.
"""

import os

from compat_llms import HashLLM
from distilabel.pipeline import Pipeline
from distilabel.steps import GroupColumns, KeepColumns, LoadDataFromDicts, MergeColumns
from distilabel.steps.tasks import TextGeneration

PROMPTS = [{"prompt": f"Give me fact number {i} about owls.", "topic": "owls"} for i in range(5)]


def main(workdir: str):
    with Pipeline(name="compat-column-steps", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        load_dataset = LoadDataFromDicts(data=PROMPTS, batch_size=2, output_mappings={"prompt": "instruction"})
        generations = [
            TextGeneration(name=f"text_generation_{model}", llm=HashLLM(model=model), input_batch_size=3)
            for model in ("model-a", "model-b")
        ]
        group = GroupColumns(
            name="group",
            columns=["generation", "model_name"],
            output_columns=["generations", "generation_models"],
        )
        merge = MergeColumns(name="merge", columns=["instruction", "generations"], output_column="texts")
        # MergeColumns removes the columns it merges.
        keep = KeepColumns(name="keep", columns=["texts", "generation_models", "topic"])
        # A leaf: its rows show how GroupColumns merges the predecessors' `distilabel_metadata` (which
        # KeepColumns cannot keep: neither distilabel nor we count it among a task's declared outputs).
        grouped_by_default = GroupColumns(name="group_default", columns=["generation"])

        load_dataset >> generations >> group >> merge >> keep
        generations >> grouped_by_default

    return pipeline.run(use_cache=False)
