"""``pipeline.dry_run()``: every generator yields a single batch, and nothing is cached.

Modelled on distilabel 1.5.3's how-to guide "Execute Steps and Tasks in a Pipeline"
(sections/how_to_guides/basic/pipeline/index, "Running the pipeline > Dry run":
``distiset = pipeline.dry_run(parameters=..., batch_size=1)``), with a generator of one's own as in
"GeneratorStep" (sections/how_to_guides/basic/step/generator_step).
"""

import os

from compat_llms import HashLLM
from distilabel.pipeline import Pipeline
from distilabel.steps import GeneratorStep, KeepColumns, LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration
from distilabel.typing import GeneratorStepOutput, StepColumns


class Counter(GeneratorStep):
    """Yields ``{"n": i}`` for i below ``limit``, ``batch_size`` rows at a time."""

    limit: int = 10

    @property
    def outputs(self) -> StepColumns:
        return ["n"]

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        while offset < self.limit:
            end = min(offset + self.batch_size, self.limit)
            yield [{"n": n} for n in range(offset, end)], end >= self.limit
            offset = end


def main(workdir: str):
    with Pipeline(name="compat-dry-run", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        instructions = LoadDataFromDicts(
            name="instructions", data=[{"instruction": f"Say {word}."} for word in ["hi", "bye", "yes", "no"]]
        )
        instructions >> TextGeneration(name="generate", llm=HashLLM(model="dry"))
        Counter(name="counter", batch_size=5) >> KeepColumns(name="keep_n", columns=["n"])

    return pipeline.dry_run(
        parameters={"generate": {"llm": {"generation_kwargs": {"temperature": 0.1}}}}, batch_size=2
    )
