"""TextGeneration with the default prompt, a template over several columns, a few-shot template,
system prompts, generation kwargs, ``num_generations`` and ``group_generations``.

Modelled on the ``TextGeneration`` docstring examples of distilabel 1.5.3 (``distilabel.steps.tasks.
text_generation``: "Generate text from an instruction", "Use a custom template to generate text",
"Few shot learning with different system prompts") and on the how-to guide "Define Tasks that rely
on LLMs" (sections/how_to_guides/basic/task/index: ``num_generations``, ``group_generations``,
runtime parameters of the LLM through ``pipeline.run(parameters=...)``).
"""

import os

from compat_llms import HashLLM
from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import TextGeneration

CUSTOM_TEMPLATE = """Document:
{{ document }}

Question: {{ question }}

Please provide a clear and concise answer to the question based on the information in the document:
""".rstrip()

FEW_SHOT_TEMPLATE = """Generate a clear, single-sentence instruction based on the following examples:

{% for example in examples %}
Example {{ loop.index }}:
Instruction: {{ example }}

{% endfor %}
Now, generate a new instruction in a similar style:
""".rstrip()

INSTRUCTIONS = [
    {"instruction": "What's the capital of Spain?"},
    {"instruction": "Write a haiku about the sea."},
    {"instruction": "Explain recursion to a child."},
]

DOCUMENTS = [
    {
        "document": "The Great Barrier Reef is the world's largest coral reef system.",
        "question": "Where is the largest coral reef system?",
    },
    {"document": "Rust guarantees memory safety without a garbage collector.", "question": "How is Rust safe?"},
]

EXAMPLES = [
    {"examples": ["This is an example", "Another relevant example"], "system_prompt": "You are terse."},
    {"examples": ["Summarise this text", "Translate to French"], "system_prompt": "You are a translator."},
]


def main(workdir: str):
    with Pipeline(name="compat-text-generation", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        instructions = LoadDataFromDicts(name="instructions", data=INSTRUCTIONS, batch_size=2)
        instructions >> TextGeneration(name="plain", llm=HashLLM(model="plain-model"))
        instructions >> TextGeneration(
            name="three_each",
            llm=HashLLM(model="sampler"),
            system_prompt="You are a helpful assistant.",
            num_generations=3,
        )
        instructions >> TextGeneration(
            name="grouped",
            llm=HashLLM(model="grouper", generation_kwargs={"temperature": 0.2}),
            num_generations=2,
            group_generations=True,
            add_raw_input=False,
        )

        documents = LoadDataFromDicts(name="documents", data=DOCUMENTS)
        documents >> TextGeneration(
            name="document_qa",
            llm=HashLLM(model="reader"),
            system_prompt="Answer from the document only.",
            template=CUSTOM_TEMPLATE,
            columns=["document", "question"],
            add_raw_output=False,
        )

        examples = LoadDataFromDicts(name="examples", data=EXAMPLES)
        examples >> TextGeneration(
            name="few_shot", llm=HashLLM(model="few-shot"), template=FEW_SHOT_TEMPLATE, columns="examples"
        )

    return pipeline.run(
        parameters={"plain": {"llm": {"generation_kwargs": {"temperature": 0.5}}}},
        use_cache=False,
    )
