"""Several LLMs answer, GroupColumns gathers them, UltraFeedback rates them, DPO formatting picks a pair.

Modelled on distilabel 1.5.3's "UltraFeedback" paper page (sections/pipeline_samples/papers/
ultrafeedback: ``load_dataset >> [text_generation_...] >> combine_columns >> ultrafeedback``) and the
tutorial "Generate a preference dataset" (sections/pipeline_samples/tutorials/
generate_preference_dataset: ``GroupColumns`` -> ``UltraFeedback`` -> ``FormatTextGenerationDPO``),
with the ``UltraFeedback`` docstring examples for the ``overall-rating`` and ``helpfulness`` aspects.
"""

import os

from compat_llms import HashLLM, RatingLLM
from distilabel.pipeline import Pipeline
from distilabel.steps import FormatTextGenerationDPO, GroupColumns, KeepColumns, LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration, UltraFeedback

INSTRUCTIONS = [
    {"instruction": "How much is 2+2?"},
    {"instruction": "Write a limerick about a cat."},
    {"instruction": "List three prime numbers."},
    {"instruction": "What causes rain?"},
]


def main(workdir: str):
    with Pipeline(name="compat-ultrafeedback", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        load_dataset = LoadDataFromDicts(name="load_dataset", data=INSTRUCTIONS, batch_size=3)
        text_generations = [
            TextGeneration(name=f"text_generation_{model}", llm=HashLLM(model=model), input_batch_size=2)
            for model in ("model-x", "model-y", "model-z")
        ]
        combine_columns = GroupColumns(
            name="combine_columns",
            columns=["generation", "model_name"],
            output_columns=["generations", "generation_models"],
        )
        ultrafeedback = UltraFeedback(
            name="ultrafeedback_overall", aspect="overall-rating", llm=RatingLLM(model="judge")
        )
        helpfulness = UltraFeedback(
            name="ultrafeedback_helpfulness",
            aspect="helpfulness",
            llm=RatingLLM(model="judge", with_types=True, last_not_rated=True),
        )
        keep_columns = KeepColumns(
            name="keep_columns",
            columns=["instruction", "generations", "generation_models", "ratings", "rationales", "model_name"],
        )
        format_dpo = FormatTextGenerationDPO(name="format_dpo")

        load_dataset >> text_generations >> combine_columns >> [ultrafeedback, helpfulness]
        ultrafeedback >> keep_columns >> format_dpo

    return pipeline.run(use_cache=False)
