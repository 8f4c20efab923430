"""Custom steps of every kind, with mappings and runtime parameters.

Modelled on distilabel 1.5.3's how-to guides "Define Steps for your Pipeline"
(sections/how_to_guides/basic/step/index: a ``Step`` subclass with ``inputs``/``outputs`` properties,
``input_mappings``/``output_mappings``, the ``@step`` decorator), "GeneratorStep"
(basic/step/generator_step: a generator with ``offset`` and a runtime parameter) and "GlobalStep"
(basic/step/global_step), and on the ``@step`` docstring example in ``distilabel.steps.decorator``
(``GenerationStep``, ``FilteringStep``; its ``RowGenerator`` fails in distilabel 1.5.3 itself).
"""

import os
from typing import List

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.pipeline import Pipeline
from distilabel.steps import GeneratorStep, GlobalStep, LoadDataFromDicts, Step, StepInput, step
from distilabel.typing import GeneratorStepOutput, StepColumns, StepOutput


class CountryGenerator(GeneratorStep):
    """Yields ``num_rows`` rows of countries, ``batch_size`` at a time, from ``offset``."""

    countries: List[str]
    num_rows: RuntimeParameter[int] = 10

    @property
    def outputs(self) -> StepColumns:
        return ["id", "country"]

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        rows = [{"id": i, "country": self.countries[i % len(self.countries)]} for i in range(self.num_rows)]
        while offset < len(rows):
            batch = rows[offset : offset + self.batch_size]
            offset += len(batch)
            yield batch, offset >= len(rows)


class CapitalQuestion(Step):
    """Writes a question about the capital of each row's ``country`` into ``question``."""

    prefix: str = "What is the capital of"

    @property
    def inputs(self) -> StepColumns:
        return ["country"]

    @property
    def outputs(self) -> StepColumns:
        return ["question"]

    def process(self, inputs: StepInput) -> StepOutput:
        for row in inputs:
            row["question"] = f"{self.prefix} {row['country']}?"
        yield inputs


@step(inputs=["instruction"], outputs=["generation"])
def GenerationStep(inputs: StepInput, dummy_generation: RuntimeParameter[str] = "none") -> StepOutput:
    for row in inputs:
        row["generation"] = f"{dummy_generation}: {row['instruction'].lower()}"
    yield inputs


@step(inputs=["instruction"], step_type="global")
def FilteringStep(inputs: StepInput, max_length: RuntimeParameter[int] = 256) -> StepOutput:
    yield [row for row in inputs if len(row["instruction"]) <= max_length]


class RankByLength(GlobalStep):
    """Sees every row at once: ranks them by the length of ``generation`` (ties keep their order)."""

    @property
    def inputs(self) -> StepColumns:
        return ["generation"]

    @property
    def outputs(self) -> StepColumns:
        return ["rank"]

    def process(self, inputs: StepInput) -> StepOutput:
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]["generation"]))
        for rank, index in enumerate(order):
            inputs[index]["rank"] = rank
        yield inputs


@step(inputs=["num"], outputs=["square"])
def Square(inputs: StepInput) -> StepOutput:
    yield [{**row, "square": row["num"] ** 2} for row in inputs]


def main(workdir: str):
    with Pipeline(name="compat-custom-steps", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        countries = CountryGenerator(countries=["Spain", "France", "Portugal", "Italy"], batch_size=3)
        question = CapitalQuestion(input_batch_size=4)
        generation = GenerationStep(
            input_mappings={"instruction": "question"}, output_mappings={"generation": "answer"}
        )
        filtering = FilteringStep(input_mappings={"instruction": "question"})
        rank = RankByLength(input_mappings={"generation": "answer"}, output_mappings={"rank": "answer_rank"})
        countries >> question >> generation >> filtering >> rank

        # `@step(step_type="generator")` is left out: distilabel 1.5.3 rejects the generator it
        # builds (its `process` has no `offset` parameter).
        numbers = LoadDataFromDicts(name="numbers", data=[{"num": n} for n in range(9)], batch_size=4)
        numbers >> Square(input_batch_size=3)

    return pipeline.run(
        parameters={
            countries.name: {"num_rows": 10},
            generation.name: {"dummy_generation": "capital"},
            filtering.name: {"max_length": 30},
        },
        use_cache=False,
    )
