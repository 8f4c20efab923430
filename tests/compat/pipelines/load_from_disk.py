"""LoadDataFromDisk of a ``datasets.Dataset`` and of a Distiset, both saved to disk by this script.

Modelled on the ``LoadDataFromDisk`` docstring examples of distilabel 1.5.3
(``distilabel.steps.generators.huggingface``: "Load data from a Hugging Face Dataset" and "Load data
from a distilabel Distiset", ``is_distiset=True``) and on the how-to guide "Using the Distiset
dataset object" (sections/how_to_guides/advanced/distiset: ``distiset.save_to_disk``).
"""

import os

from datasets import Dataset
from distilabel.pipeline import Pipeline
from distilabel.steps import KeepColumns, LoadDataFromDicts, LoadDataFromDisk, StepInput, step
from distilabel.typing import StepOutput


@step(inputs=["word"], outputs=["length"])
def WordLength(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["length"] = len(row["word"])
    yield inputs


def main(workdir: str):
    dataset_path = os.path.join(workdir, "words_dataset")
    rows = [{"word": word, "position": i} for i, word in enumerate(["alpha", "beta", "gamma", "pi"])]
    Dataset.from_list(rows).save_to_disk(dataset_path)

    with Pipeline(name="compat-save-distiset", cache_dir=os.path.join(workdir, "cache")) as first:
        LoadDataFromDicts(data=[{"word": word} for word in ["one", "three", "eleven"]]) >> WordLength()
    distiset_path = os.path.join(workdir, "saved_distiset")
    first.run(use_cache=False).save_to_disk(distiset_path)

    with Pipeline(name="compat-load-from-disk", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        words = LoadDataFromDisk(name="words", dataset_path=dataset_path, batch_size=3)
        words >> WordLength(name="word_length")
        # distilabel needs `split` here: without it the loader's columns are the split names.
        saved = LoadDataFromDisk(
            name="saved", dataset_path=distiset_path, is_distiset=True, config="default", split="train"
        )
        saved >> KeepColumns(name="saved_lengths", columns=["length", "word"])

    return pipeline.run(use_cache=False)
