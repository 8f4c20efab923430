"""Deterministic LLMs for the compatibility corpus, written the way distilabel's docs define a custom LLM.

Modelled on distilabel 1.5.3's "Define LLMs as local or remote models" how-to guide
(sections/how_to_guides/basic/llm, "Defining custom LLMs"): subclass ``LLM`` and implement
``model_name``, ``load`` and ``generate``. Each reply is derived from a SHA-256 of the chat it
answers (and of the generation index and temperature), so every run gives the same rows, offline.
"""

import hashlib
import json
import re
from typing import Any, List

from distilabel.models import LLM
from distilabel.typing import ChatType, GenerateOutput


def digest(*parts: Any) -> str:
    """Twelve hex digits of the SHA-256 of ``parts`` dumped as JSON."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def count_words(chat: ChatType) -> int:
    """A stand-in for an input token count: the words of every message."""
    return sum(len(message["content"].split()) for message in chat)


class HashLLM(LLM):
    """Answers each chat with one line derived from the chat's hash."""

    model: str = "hash-llm"

    def load(self) -> None:
        super().load()

    @property
    def model_name(self) -> str:
        return self.model

    def reply(self, chat: ChatType, index: int, temperature: float) -> str:
        """The text of generation ``index`` for ``chat``."""
        last = chat[-1]["content"].splitlines()[0][:40] if chat[-1]["content"] else ""
        return f"{self.model} says {digest(chat, index, temperature)} about: {last}"

    def generate(
        self, inputs: List[ChatType], num_generations: int = 1, temperature: float = 1.0
    ) -> List[GenerateOutput]:
        """Generates ``num_generations`` replies per chat.

        Args:
            inputs: the chats to answer.
            num_generations: the number of replies per chat.
            temperature: mixed into the hash, so that changing it changes the replies.
        """
        outputs = []
        for chat in inputs:
            generations = [self.reply(chat, index, temperature) for index in range(num_generations)]
            outputs.append(
                {
                    "generations": generations,
                    "statistics": {
                        "input_tokens": [count_words(chat)] * num_generations,
                        "output_tokens": [len(text.split()) for text in generations],
                    },
                }
            )
        return outputs


class LinesLLM(HashLLM):
    """Answers with ``lines`` non-empty lines separated by blank lines (a list of instructions)."""

    lines: int = 3

    def reply(self, chat: ChatType, index: int, temperature: float) -> str:
        return "\n\n".join(
            f"Instruction {number + 1}: explain {digest(chat, index, number)}?" for number in range(self.lines)
        )


class SentencePairLLM(HashLLM):
    """Answers in GenerateSentencePair's ``## Positive`` / ``## Negative`` format."""

    def reply(self, chat: ChatType, index: int, temperature: float) -> str:
        key = digest(chat, index, temperature)
        return f"## Positive\n\nA sentence close to {key[:6]}.\n\n## Negative\n\nA sentence far from {key[6:]}."


class RatingLLM(HashLLM):
    """Rates every ``<text N>`` of an UltraFeedback prompt, in UltraFeedback's plain-text format.

    With ``with_types`` it answers the ``helpfulness``/``truthfulness`` format (Type, Rationale,
    Rating, Rationale); with ``last_not_rated`` the last text gets ``Rating: N/A`` (read as None).
    """

    with_types: bool = False
    last_not_rated: bool = False

    def reply(self, chat: ChatType, index: int, temperature: float) -> str:
        texts = sorted({int(number) for number in re.findall(r"<text (\d+)>", chat[-1]["content"])})
        sections = []
        for number in texts:
            key = digest(chat, index, number)
            rating = "N/A" if self.last_not_rated and number == texts[-1] else str(int(key, 16) % 5 + 1)
            if self.with_types:
                sections.append(
                    f"#### Output for Text {number}\nType: {int(key, 16) % 3 + 1}\nRationale: type {key[:4]}"
                    f"\nRating: {rating}\nRationale: rated {key[4:]}"
                )
            else:
                sections.append(f"#### Output for Text {number}\nRating: {rating}\nRationale: rated {key}")
        return "\n\n".join(sections)
