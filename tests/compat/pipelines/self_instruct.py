"""SelfInstruct writes instructions for each input, ExpandColumns spreads them, TextGeneration answers.

Modelled on the ``SelfInstruct`` docstring example of distilabel 1.5.3
(``distilabel.steps.tasks.self_instruct``: ``num_instructions``, ``process([{"input": ...}])``) and on
the how-to guide "Execute Steps and Tasks in a Pipeline" (sections/how_to_guides/basic/pipeline/
index), where a task's list output is expanded before the next task.
"""

import os

from compat_llms import HashLLM, LinesLLM
from distilabel.pipeline import Pipeline
from distilabel.steps import ExpandColumns, LoadDataFromDicts
from distilabel.steps.tasks import SelfInstruct, TextGeneration


def main(workdir: str):
    with Pipeline(name="compat-self-instruct", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        topics = LoadDataFromDicts(
            name="topics",
            data=[{"input": "Photosynthesis"}, {"input": "The French Revolution"}, {"input": "Sorting algorithms"}],
        )
        self_instruct = SelfInstruct(
            llm=LinesLLM(model="instructor", lines=3),
            num_instructions=3,
            criteria_for_query_generation="Queries must be short and self-contained.",
            application_description="A tutor for high-school students.",
        )
        expand = ExpandColumns(columns={"instructions": "instruction"})
        answer = TextGeneration(name="answer", llm=HashLLM(model="answerer"), add_raw_input=False)
        topics >> self_instruct >> expand >> answer

    return pipeline.run(use_cache=False)
