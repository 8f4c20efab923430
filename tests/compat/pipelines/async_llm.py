"""A custom ``AsyncLLM``: ``agenerate`` answers one chat, the base class gathers a batch concurrently.

Modelled on distilabel 1.5.3's how-to guide "Define LLMs as local or remote models"
(sections/how_to_guides/basic/llm/index, "Defining custom LLMs": a subclass of ``AsyncLLM``
implementing ``model_name``, ``load`` and ``async def agenerate``).
"""

import asyncio
import os

from compat_llms import count_words, digest
from distilabel.models import AsyncLLM
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration
from distilabel.typing import ChatType, GenerateOutput


class HashAsyncLLM(AsyncLLM):
    """Answers with text derived from the chat's hash, after yielding to the event loop."""

    model: str = "async-hash"

    def load(self) -> None:
        super().load()

    @property
    def model_name(self) -> str:
        return self.model

    async def agenerate(
        self, input: ChatType, num_generations: int = 1, temperature: float = 1.0
    ) -> GenerateOutput:
        """Generates ``num_generations`` replies for one chat.

        Args:
            input: the chat to answer.
            num_generations: the number of replies.
            temperature: mixed into the hash.
        """
        await asyncio.sleep(0.001 * (int(digest(input), 16) % 5))  # replies finish out of order
        generations = [f"async {digest(input, i, temperature)}" for i in range(num_generations)]
        return {
            "generations": generations,
            "statistics": {
                "input_tokens": [count_words(input)] * num_generations,
                "output_tokens": [len(text.split()) for text in generations],
            },
        }


def main(workdir: str):
    with Pipeline(name="compat-async-llm", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        load = LoadDataFromDicts(
            name="load", data=[{"instruction": f"Explain topic {i}."} for i in range(5)], batch_size=3
        )
        llm = HashAsyncLLM(generation_kwargs={"temperature": 0.3})
        load >> TextGeneration(name="generate", llm=llm, num_generations=2)

    return pipeline.run(use_cache=False)
