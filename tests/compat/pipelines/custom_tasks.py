"""Tasks of one's own: the ``@task`` decorator and a ``Task`` subclass, fed by ``run(dataset=...)``.

Modelled on distilabel 1.5.3's how-to guide "Define Tasks that rely on LLMs"
(sections/how_to_guides/basic/task/index, "Defining custom Tasks": ``@task`` with the system prompt
and user message template in the docstring's YAML front matter, and a ``Task`` subclass with
``inputs``, ``outputs``, ``format_input`` and ``format_output``), and on "Execute Steps and Tasks in
a Pipeline" (sections/how_to_guides/basic/pipeline/index), whose ``pipeline.run(dataset=...)`` adds
the loader.
"""

import os
from typing import Any, Dict, Union

from compat_llms import HashLLM
from distilabel.pipeline import Pipeline
from distilabel.steps.tasks import Task, task
from distilabel.typing import ChatType, StepColumns


@task(inputs=["instruction", "style"], outputs=["response"])
def MyCustomTask(output: Union[str, None], input: Union[Dict[str, Any], None] = None) -> Dict[str, Any]:
    """
    ---
    system_prompt: |
        You answer in the style of a {style}.

    user_message_template: |
        Answer this: {instruction}
    ---
    """
    return {"response": output}


class SummaryAndKeywords(Task):
    """Asks for a summary of ``text``; reads the answer's hash as keywords."""

    max_keywords: int = 2

    @property
    def inputs(self) -> StepColumns:
        return ["text"]

    @property
    def outputs(self) -> StepColumns:
        return ["summary", "keywords", "model_name"]

    def format_input(self, input: Dict[str, Any]) -> ChatType:
        return [
            {"role": "system", "content": "Summarise, then give keywords."},
            {"role": "user", "content": f"Text: {input['text']}"},
        ]

    def format_output(
        self, output: Union[str, None], input: Union[Dict[str, Any], None] = None
    ) -> Dict[str, Any]:
        if output is None:
            return {"summary": None, "keywords": None}
        words = output.split()
        return {"summary": " ".join(words[:4]), "keywords": words[2:][: self.max_keywords]}


DATASET = [
    {"instruction": "Why is the sky blue?", "style": "pirate", "text": "Rayleigh scattering makes the sky blue."},
    {
        "instruction": "What is a monad?",
        "style": "poet",
        "text": "A monad is a monoid in the category of endofunctors.",
    },
    {"instruction": "Boil an egg.", "style": "chef", "text": "Water boils at 100 degrees at sea level."},
]


def main(workdir: str):
    with Pipeline(name="compat-custom-tasks", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        my_task = MyCustomTask(name="my_custom_task", llm=HashLLM(model="styled"))
        summary = SummaryAndKeywords(name="summary", llm=HashLLM(model="summariser"), max_keywords=3)
        my_task >> summary

    return pipeline.run(dataset=DATASET, dataset_batch_size=2, use_cache=False)
