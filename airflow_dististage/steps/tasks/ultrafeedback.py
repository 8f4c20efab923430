"""``UltraFeedback``: an LLM judge rates each of a row's ``generations`` for one aspect, as in distilabel."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Literal, Optional

import jinja2

from airflow_dististage.llms.base import ChatType
from airflow_dististage.steps.tasks.base import Task
from airflow_dististage.steps.tasks.templates.ultrafeedback import ASPECT_TEMPLATES
from airflow_dististage.typing import StepColumns

__all__ = ["UltraFeedback"]

UltraFeedbackAspect = Literal["helpfulness", "honesty", "instruction-following", "truthfulness", "overall-rating"]

_SYSTEM_PROMPT = (
    "Your role is to evaluate text quality based on given criteria.\n"
    'You\'ll receive an instructional description ("Instruction") and {no_texts} text outputs ("Text").\n'
    "Understand and interpret instructions to evaluate effectively.\n"
    "Provide annotations for each text with a rating and rationale.\n"
    "The {no_texts} texts given are independent, and should be evaluated separately.\n"
)
_RATED_ASPECTS = ("honesty", "instruction-following", "overall-rating")
_RATING_SECTION = re.compile(r"Rating: (.+?)\nRationale: (.+)", re.DOTALL)
_TYPED_SECTION = re.compile(r"Type: (.+?)\nRationale: (.+?)\nRating: (.+?)\nRationale: (.+)", re.DOTALL)
_NUMBER = re.compile(r"\b\d+\b")


class UltraFeedback(Task):
    """Rates the ``generations`` of an ``instruction`` with an LLM judge, for one UltraFeedback aspect.

    Args:
        aspect: ``helpfulness``, ``honesty``, ``instruction-following``, ``truthfulness`` or Argilla's
            ``overall-rating`` (the default).

    Input columns: ``instruction`` (str), ``generations`` (list of str).
    Output columns: ``ratings`` and ``rationales`` (one per generation) for honesty, instruction-following
    and overall-rating; ``types``, ``rationales``, ``ratings`` and ``rationales-for-ratings`` for
    helpfulness and truthfulness; then ``model_name``.

    The judge's answer is split into sections at blank lines; each section gives one generation's entry,
    and a section that does not match the expected ``Rating:``/``Rationale:`` (or ``Type:``...) layout gives
    ``None`` entries. A rating or type of ``None`` or ``N/A`` is ``None``; otherwise its first number.
    """

    aspect: UltraFeedbackAspect = "overall-rating"

    def _validate_attributes(self) -> None:
        super()._validate_attributes()
        if self.aspect not in ASPECT_TEMPLATES:
            raise ValueError(
                f"Step {self.name!r}: aspect must be one of {sorted(ASPECT_TEMPLATES)}, got {self.aspect!r}."
            )
        self._template = jinja2.Template(ASPECT_TEMPLATES[self.aspect])

    @property
    def inputs(self) -> StepColumns:
        return ["instruction", "generations"]

    @property
    def outputs(self) -> StepColumns:
        if self.aspect in _RATED_ASPECTS:
            columns = ["ratings", "rationales"]
        else:
            columns = ["types", "rationales", "ratings", "rationales-for-ratings"]
        return columns + ["model_name"]

    def format_input(self, input: Dict[str, Any]) -> ChatType:  # noqa: A002 - distilabel's name
        """The aspect's system prompt and annotation request for the row's generations."""
        generations = input["generations"]
        user_message = self._template.render(instruction=input["instruction"], generations=generations)
        return [
            {"role": "system", "content": _SYSTEM_PROMPT.format(no_texts=len(generations))},
            {"role": "user", "content": user_message},
        ]

    def format_output(
        self, output: Optional[str], input: Optional[Dict[str, Any]] = None  # noqa: A002
    ) -> Dict[str, Any]:
        """Lists of per-generation entries parsed from the judge's answer (``None`` where it cannot be parsed)."""
        if input is None:
            raise ValueError(f"Step {self.name!r}: UltraFeedback needs the input row to format an output.")
        columns = [column for column in self.outputs if column != "model_name"]
        if output is None:
            return {column: [None] * len(input["generations"]) for column in columns}
        typed = self.aspect not in _RATED_ASPECTS
        pattern = _TYPED_SECTION if typed else _RATING_SECTION
        entries: List[Dict[str, Any]] = []
        for section in output.split("\n\n"):
            match = pattern.search(section) if section else None
            if match is None:
                entries.append(dict.fromkeys(columns))
            elif typed:
                entries.append(
                    {
                        "types": _score(match.group(1)),
                        "rationales": match.group(2),
                        "ratings": _score(match.group(3)),
                        "rationales-for-ratings": match.group(4),
                    }
                )
            else:
                entries.append({"ratings": _score(match.group(1)), "rationales": match.group(2)})
        return {column: [entry[column] for entry in entries] for column in columns}


def _score(text: str) -> Optional[int]:
    """The first number in a rating or type, ``None`` for ``None``/``N/A`` (no number fails the row)."""
    if text in ("None", "N/A"):
        return None
    numbers = _NUMBER.findall(text)
    if not numbers:
        raise ValueError(f"no number in the score {text!r}")
    return int(numbers[0])
