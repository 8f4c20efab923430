"""ExpandColumns: plain lists, JSON-encoded lists, renamed targets, split statistics, grouped generations.

Modelled on the docstring examples of ``ExpandColumns`` in distilabel 1.5.3
(``distilabel.steps.columns.expand``: "Expand the selected columns into multiple rows", "... which
are JSON encoded ...", "... and split the statistics in the `distilabel_metadata` column"), and on
``TextGeneration(num_generations=..., group_generations=True)`` from the how-to guide "Define Tasks
that rely on LLMs" (sections/how_to_guides/basic/task/index).
"""

import os

from compat_llms import HashLLM
from distilabel.pipeline import Pipeline
from distilabel.steps import ExpandColumns, LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration


def main(workdir: str):
    with Pipeline(name="compat-expand-columns", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        lists = LoadDataFromDicts(
            name="lists",
            data=[
                {"instruction": "instruction 1", "generation": ["generation 1", "generation 2"]},
                {"instruction": "instruction 2", "generation": ["generation 3"]},
                {"instruction": "instruction 3", "generation": ["generation 4", "generation 5", "generation 6"]},
            ],
            batch_size=2,
        )
        lists >> ExpandColumns(name="expand_plain", columns=["generation"])
        lists >> ExpandColumns(name="expand_renamed", columns={"generation": "response"})

        encoded = LoadDataFromDicts(
            name="encoded",
            data=[
                {"instruction": "instruction 1", "generation": '["generation 1", "generation 2"]'},
                {"instruction": "instruction 2", "generation": '["generation 3"]'},
            ],
        )
        encoded >> ExpandColumns(name="expand_encoded", columns=["generation"], encoded=True)

        with_statistics = LoadDataFromDicts(
            name="with_statistics",
            data=[
                {
                    "instruction": "instruction 1",
                    "generation": ["generation 1", "generation 2"],
                    "distilabel_metadata": {
                        "statistics_generation": {"input_tokens": [12], "output_tokens": [12]},
                    },
                },
                {
                    "instruction": "instruction 2",
                    "generation": ["generation 3", "generation 4", "generation 5"],
                    "distilabel_metadata": {
                        "statistics_generation": {"input_tokens": [10], "output_tokens": [31]},
                    },
                },
            ],
        )
        with_statistics >> ExpandColumns(name="expand_statistics", columns=["generation"], split_statistics=True)

        prompts = LoadDataFromDicts(
            name="prompts", data=[{"instruction": f"Name {n} rivers."} for n in range(1, 4)]
        )
        generate = TextGeneration(
            name="generate", llm=HashLLM(), num_generations=2, group_generations=True, add_raw_input=False
        )
        prompts >> generate >> ExpandColumns(name="expand_generations", columns=["generation"])

    return pipeline.run(use_cache=False)
