"""LoadDataFromFileSystem over JSON lines, CSV and Parquet files, and a glob of shards.

Modelled on the ``LoadDataFromFileSystem`` docstring examples of distilabel 1.5.3
(``distilabel.steps.generators.huggingface``: "Load data from a Hugging Face dataset in your file
system", "Load data from a file in your cloud provider", "Load data passing a glob pattern") and on
the how-to guide "Execute Steps and Tasks in a Pipeline" (sections/how_to_guides/basic/pipeline/index,
loading a dataset as the first step).
"""

import os
from pathlib import Path

from distilabel.pipeline import Pipeline
from distilabel.steps import KeepColumns, LoadDataFromFileSystem, StepInput, step
from distilabel.typing import StepOutput

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@step(inputs=["country", "capital"], outputs=["sentence"])
def Sentence(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["sentence"] = f"{row['capital']} is the capital of {row['country']}."
    yield inputs


def main(workdir: str):
    with Pipeline(name="compat-file-system", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        planets = LoadDataFromFileSystem(name="planets", data_files=str(DATA_DIR / "planets.jsonl"), batch_size=2)
        planets >> KeepColumns(name="planet_instructions", columns=["order", "instruction"])

        capitals = LoadDataFromFileSystem(name="capitals", data_files=str(DATA_DIR / "capitals.csv"))
        capitals >> Sentence(name="sentences")

        # Every loader has a successor: distilabel 1.5.3 never finishes a generator that has none.
        questions = LoadDataFromFileSystem(
            name="questions", data_files=str(DATA_DIR / "questions.parquet"), num_examples=2
        )
        questions >> KeepColumns(name="question_labels", columns=["labels", "question"])
        # A folder is left out: distilabel 1.5.3 takes its (empty) suffix as the file type and fails.
        shards = LoadDataFromFileSystem(name="shards", data_files=str(DATA_DIR / "shards" / "*.jsonl"), batch_size=4)
        shards >> KeepColumns(name="shard_texts", columns=["text", "shard"])

    return pipeline.run(use_cache=False)
