"""ChatGeneration answering conversations, some built with ConversationTemplate, then SFT formatting.

Modelled on the ``ChatGeneration`` docstring example of distilabel 1.5.3
(``distilabel.steps.tasks.text_generation``: "Generate text from a conversation in OpenAI chat
format") and on ``ConversationTemplate`` (``distilabel.steps.formatting.conversation``), followed by
``FormatChatGenerationSFT`` as in the how-to guide "Define Tasks that rely on LLMs".
"""

import os

from compat_llms import HashLLM
from distilabel.pipeline import Pipeline
from distilabel.steps import (
    ConversationTemplate,
    FormatChatGenerationSFT,
    LoadDataFromDicts,
    StepInput,
    step,
)
from distilabel.steps.tasks import ChatGeneration
from distilabel.typing import StepOutput


@step(inputs=["conversation"], outputs=["messages"])
def FollowUp(inputs: StepInput) -> StepOutput:
    for row in inputs:
        row["messages"] = row["conversation"] + [{"role": "user", "content": "Tell me more."}]
    yield inputs


def main(workdir: str):
    with Pipeline(name="compat-chat-generation", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        chats = LoadDataFromDicts(
            name="chats",
            data=[
                {"messages": [{"role": "user", "content": "How much is 2+2?"}]},
                {
                    "messages": [
                        {"role": "system", "content": "You are a pirate."},
                        {"role": "user", "content": "Where is the treasure?"},
                    ]
                },
            ],
        )
        chats >> ChatGeneration(name="chat", llm=HashLLM(model="chat-model")) >> FormatChatGenerationSFT()

        pairs = LoadDataFromDicts(
            name="pairs",
            data=[
                {"instruction": "Hello", "response": "Hi, how can I help?"},
                {"instruction": "What is Airflow?", "response": "A workflow scheduler."},
            ],
        )
        follow_up = ChatGeneration(name="follow_up", llm=HashLLM(model="follow-up-model"), num_generations=2)
        pairs >> ConversationTemplate() >> FollowUp() >> follow_up

    return pipeline.run(use_cache=False)
