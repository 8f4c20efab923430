"""``GenerateSentencePair``: positive (and negative) sentences for an anchor, to train sentence embeddings."""

from __future__ import annotations

import re
from typing import Any, Dict, Final, Literal, Optional

import jinja2

from airflow_dististage.llms.base import ChatType
from airflow_dististage.steps.tasks.base import Task
from airflow_dististage.steps.tasks.templates.generate_sentence_pair import GENERATE_SENTENCE_PAIR_TEMPLATE
from airflow_dististage.typing import StepColumns

__all__ = ["GenerateSentencePair", "GenerationAction"]

GenerationAction = Literal["paraphrase", "semantically-similar", "query", "answer"]

_PAIR = re.compile(r"\s*## Positive\s+(.*?)(?:\s+## Negative\s+(.*?))?\s*$", re.DOTALL)
_ACTION_SENTENCES: Final[Dict[str, str]] = {
    "paraphrase": "paraphrase",
    "semantically-similar": "be semantically similar to",
    "query": "be a query for",
    "answer": "be an answer for",
}
_POSITIVE_SYSTEM_PROMPT: Final[str] = (
    "Your task is to generate a positive sentence given an anchor sentence.{context} The positive"
    " sentence has to {action_sentence} the anchor sentence. You must output only one new"
    " section: `## Positive`."
)
_NEGATIVE_STYLES: Final[Dict[bool, str]] = {
    False: "can use similar words but must not be related to the anchor sentence",
    True: (
        "is a 'hard negative' that meets the following criteria:\n"
        "- Uses similar keywords or phrases as the anchor sentence\n"
        "- Has a similar grammatical structure or syntax\n"
        "- Is not related to the anchor sentence, but could be mistaken for it\n"
        "Try to create a negative sentence that would be challenging for a model to distinguish "
        "from the positive sentence"
    ),
}
_POSITIVE_NEGATIVE_SYSTEM_PROMPT: Final[str] = (
    "Your task is to generate a positive and a negative sentence given an anchor sentence.{context}"
    " The positive sentence has to {action_sentence} the anchor sentence, while the negative"
    " sentence {negative_style}. You must output only two new sections: `## Positive` and `## Negative`."
)
_CONTEXT_INTRO: Final[str] = " Take into account the context given."
_TEMPLATE = jinja2.Template(GENERATE_SENTENCE_PAIR_TEMPLATE)


class GenerateSentencePair(Task):
    """Generates a ``positive`` sentence (and with ``triplet`` a ``negative`` one) for each ``anchor``.

    Args:
        action: what the positive is to the anchor: ``paraphrase``, ``semantically-similar``,
            ``query`` or ``answer`` (required).
        triplet: also generate a negative sentence.
        hard_negative: with ``triplet``, ask for a hard negative (similar words, unrelated meaning).
        context: a context given to the LLM with every anchor.

    Input columns: ``anchor`` (str).
    Output columns: ``positive`` (and ``negative`` with ``triplet``), ``model_name``; ``None`` where the
    answer has no ``## Positive`` section (or no ``## Negative`` one).
    """

    triplet: bool = False
    action: GenerationAction
    hard_negative: bool = False
    context: str = ""

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        if self.action not in _ACTION_SENTENCES:
            raise ValueError(
                f"Step {self.name!r}: action must be one of {sorted(_ACTION_SENTENCES)}, got {self.action!r}."
            )

    @property
    def inputs(self) -> StepColumns:
        return ["anchor"]

    @property
    def outputs(self) -> StepColumns:
        return (["positive", "negative"] if self.triplet else ["positive"]) + ["model_name"]

    def format_input(self, input: Dict[str, Any]) -> ChatType:  # noqa: A002 - distilabel's name
        """The system prompt for the action (and negative style), then the context and anchor."""
        values = {"action_sentence": _ACTION_SENTENCES[self.action], "context": _CONTEXT_INTRO if self.context else ""}
        if self.triplet:
            system_prompt = _POSITIVE_NEGATIVE_SYSTEM_PROMPT.format(
                **values, negative_style=_NEGATIVE_STYLES[self.hard_negative]
            )
        else:
            system_prompt = _POSITIVE_SYSTEM_PROMPT.format(**values)
        return [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": _TEMPLATE.render(anchor=input["anchor"], context=self.context or None)},
        ]

    def format_output(
        self, output: Optional[str], input: Optional[Dict[str, Any]] = None  # noqa: A002
    ) -> Dict[str, Any]:
        """The ``## Positive`` (and ``## Negative``) sections of the answer, stripped."""
        match = _PAIR.search(output) if output is not None else None
        positive, negative = match.groups() if match is not None else (None, None)
        result: Dict[str, Any] = {"positive": positive.strip() if positive is not None else None}
        if self.triplet:
            result["negative"] = negative.strip() if negative is not None else None
        return result
