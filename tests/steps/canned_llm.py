"""A deterministic LLM for task tests, written the way distilabel documents custom LLMs.

It subclasses the LLM base and implements ``model_name`` and ``generate``; the reply to a chat is the
first entry of ``replies`` whose key occurs in the chat's last message.
"""

from __future__ import annotations

from typing import Any, Dict, List, Union

from airflow_dististage.llms.base import LLM, ChatType, GenerateOutput


class CannedLLM(LLM):
    """Answers from a table.

    ``replies`` maps a substring of the last message to its answer, or to a list of answers (one per
    generation, cycled). A chat no key matches gets ``None`` generations and an error, as a failed
    request does. Token counts are words: the last message's for input, each answer's for output.
    ``logprobs=True`` adds a ``logprobs`` entry per generation (an extra key of the LLM's output).
    """

    replies: Dict[str, Union[str, List[str]]]
    model: str = "canned"
    logprobs: bool = False

    @property
    def model_name(self) -> str:
        return self.model

    def generate(
        self, inputs: List[ChatType], num_generations: int = 1, **generation_kwargs: Any
    ) -> List[GenerateOutput]:
        outputs: List[GenerateOutput] = []
        for chat in inputs:
            last = chat[-1]["content"]
            key = next((key for key in self.replies if key in last), None)
            if key is None:
                unknown = [None] * num_generations
                outputs.append(
                    {
                        "generations": unknown,
                        "statistics": {"input_tokens": unknown, "output_tokens": unknown},
                        "error": "no canned reply",
                    }
                )
                continue
            answers = self.replies[key] if isinstance(self.replies[key], list) else [self.replies[key]]
            generations = [answers[index % len(answers)] for index in range(num_generations)]
            output: GenerateOutput = {
                "generations": generations,
                "statistics": {
                    "input_tokens": [len(last.split())] * num_generations,
                    "output_tokens": [len(text.split()) for text in generations],
                },
            }
            if self.logprobs:
                logprobs = [[-float(index)] for index in range(num_generations)]
                output["logprobs"] = logprobs  # type: ignore[typeddict-unknown-key]
            outputs.append(output)
        return outputs
