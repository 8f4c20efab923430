"""The SFT and DPO formatting steps, and ConversationTemplate, over rows as tasks produce them.

Modelled on the docstring examples of distilabel 1.5.3's ``FormatTextGenerationSFT``,
``FormatChatGenerationSFT``, ``FormatTextGenerationDPO``, ``FormatChatGenerationDPO``
(``distilabel.steps.formatting.sft`` / ``.dpo``) and ``ConversationTemplate``
(``distilabel.steps.formatting.conversation``), and on the tutorial "Generate a preference dataset"
(sections/pipeline_samples/tutorials/generate_preference_dataset), which ends in
``FormatTextGenerationDPO``.
"""

import os

from distilabel.pipeline import Pipeline
from distilabel.steps import (
    ConversationTemplate,
    FormatChatGenerationDPO,
    FormatChatGenerationSFT,
    FormatTextGenerationDPO,
    FormatTextGenerationSFT,
    LoadDataFromDicts,
)

# The first row of each loader has every column: distilabel drops from its output a column that the
# first row of a written chunk lacks (it infers the Arrow schema from that row); we keep it.
TEXT_SFT = [
    {"instruction": "Say hi", "generation": "Hi!", "system_prompt": "You are friendly."},
    {"instruction": "What's 2+2?", "generation": "4"},
    {"instruction": "Say bye", "generation": "Bye.", "system_prompt": ""},
]

CHAT_SFT = [
    {
        "messages": [{"role": "user", "content": "What's 2+2?"}],
        "generation": "4",
    },
    {
        "messages": [
            {"role": "system", "content": "You are a tutor."},
            {"role": "user", "content": "What's 2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 3+3?"},
        ],
        "generation": "6",
    },
]

TEXT_DPO = [
    {
        "instruction": "Name a colour.",
        "system_prompt": "Answer in one word.",
        "generations": ["Blue", "The sky", "Red"],
        "generation_models": ["model-a", "model-b", "model-c"],
        "ratings": [3.5, 2.0, 4.5],
    },
    {
        "instruction": "What's 2+2?",
        "generations": ["4", "5", "four"],
        "generation_models": ["model-a", "model-b", "model-c"],
        "ratings": [5, 1, 5],
    },
]

CHAT_DPO = [
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of Spain?"},
        ],
        "generations": ["Madrid", "Barcelona"],
        "ratings": [5, 2],
    },
    {
        "messages": [{"role": "user", "content": "Capital of France?"}],
        "generations": ["Lyon", "Paris", "Paris, France"],
        "ratings": [1, 4, 4],
    },
]

CONVERSATIONS = [
    {"instruction": "Hello", "response": "Hi"},
    {"instruction": "How are you?", "response": "Fine, thanks."},
]


def main(workdir: str):
    with Pipeline(name="compat-formatting", cache_dir=os.path.join(workdir, "cache")) as pipeline:
        LoadDataFromDicts(name="text_sft", data=TEXT_SFT, batch_size=2) >> FormatTextGenerationSFT()
        LoadDataFromDicts(name="chat_sft", data=CHAT_SFT) >> FormatChatGenerationSFT()
        LoadDataFromDicts(name="text_dpo", data=TEXT_DPO) >> FormatTextGenerationDPO()
        LoadDataFromDicts(name="chat_dpo", data=CHAT_DPO) >> FormatChatGenerationDPO()
        LoadDataFromDicts(name="conversations", data=CONVERSATIONS) >> ConversationTemplate()

    return pipeline.run(use_cache=False)
