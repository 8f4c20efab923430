"""GenerateSentencePair: positives, triplets, context and hard negatives, for several actions.

Modelled on the ``GenerateSentencePair`` docstring examples of distilabel 1.5.3
(``distilabel.steps.tasks.sentence_transformers``: "Paraphrasing", "Generating queries", "Generating
answers", "Generating queries with context", "Generating Hard-negatives") and on the tutorial
"Synthetic data generation for fine-tuning custom retrieval and reranking models"
(sections/pipeline_samples/tutorials/GenerateSentencePair).
"""

import os

from compat_llms import SentencePairLLM
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import GenerateSentencePair

ANCHORS = [
    {"anchor": "What Game of Thrones villain would be the most likely to give you mercy?"},
    {"anchor": "How does 3D printing work?"},
    {"anchor": "Argilla is an open-source data curation platform for LLMs."},
]


def main(workdir: str):
    with Pipeline(name="compat-sentence-pair", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        anchors = LoadDataFromDicts(name="anchors", data=ANCHORS, batch_size=2)
        anchors >> GenerateSentencePair(
            name="paraphrase", triplet=True, action="paraphrase", llm=SentencePairLLM(), input_batch_size=10
        )
        anchors >> GenerateSentencePair(
            name="similar", triplet=False, action="semantically-similar", llm=SentencePairLLM()
        )
        anchors >> GenerateSentencePair(
            name="query_in_context",
            triplet=True,
            action="query",
            context="Argilla is an open-source data curation platform for LLMs.",
            llm=SentencePairLLM(),
        )
        anchors >> GenerateSentencePair(
            name="answer_hard_negative",
            triplet=True,
            action="answer",
            hard_negative=True,
            llm=SentencePairLLM(),
        )

    return pipeline.run(use_cache=False)
