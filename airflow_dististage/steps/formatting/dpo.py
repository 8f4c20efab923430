"""``FormatTextGenerationDPO`` and ``FormatChatGenerationDPO``: rated generations as a ``chosen``/``rejected``
pair for direct preference optimisation (the layout of ``HuggingFaceH4/ultrafeedback_binarized``)."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Tuple

from airflow_dististage.steps.column_checks import column_value, list_value, same_lengths
from airflow_dististage.steps.formatting.prompts import (
    FormattingStep,
    assistant,
    conversation_prompt,
    instruction_prompt,
)
from airflow_dististage.typing import ChatType, StepColumns

logger = logging.getLogger(__name__)


class _FormatDPO(FormattingStep):
    """Adds ``prompt``, ``prompt_id`` and the pair: ``chosen`` is the conversation answered by the
    generation rated highest, ``rejected`` by the one rated lowest, the first of them on a tie (all
    ratings equal: both are the first generation), as distilabel picks them.

    A row whose ``ratings`` are missing (``None``, empty, or with a ``None`` among them, as a rating
    task that could not parse its judge gives) gets ``None`` for every ``chosen*``/``rejected*``
    column and a warning; distilabel fails the batch there and fills every output of every row
    of it with ``None``.
    """

    @property
    def outputs(self) -> StepColumns:
        return [
            "prompt",
            "prompt_id",
            "chosen",
            "chosen_model",
            "chosen_rating",
            "rejected",
            "rejected_model",
            "rejected_rating",
        ]

    def _formatted(self, row: Dict[str, Any], conversation: ChatType) -> Dict[str, Any]:
        """The ``chosen*``/``rejected*`` columns of ``row`` (``*_model`` only if it has ``generation_models``)."""
        generations = list_value(self.name, "generations", column_value(self.name, row, "generations"))
        ratings = column_value(self.name, row, "ratings")
        models = row.get("generation_models")
        sides = {"chosen": None, "rejected": None}
        if _rated(ratings):
            ratings = list_value(self.name, "ratings", ratings)
            lengths = {"generations": len(generations), "ratings": len(ratings)}
            if models is not None:
                lengths["generation_models"] = len(list_value(self.name, "generation_models", models))
            same_lengths(self.name, f"the lists of columns {list(lengths)} in one row", list(lengths.values()))
            positions = range(len(ratings))
            sides = {
                "chosen": max(positions, key=ratings.__getitem__),
                "rejected": min(positions, key=ratings.__getitem__),
            }
        else:
            self._warn_unrated(ratings)
        pair: Dict[str, Any] = {}
        for side, index in sides.items():
            pair[side] = None if index is None else [*conversation, assistant(generations[index])]
            if models is not None:
                pair[f"{side}_model"] = None if index is None else models[index]
            pair[f"{side}_rating"] = None if index is None else ratings[index]
        return pair

    def _warn_unrated(self, ratings: Optional[List[Any]]) -> None:
        if self.__dict__.get("_warned_unrated"):
            return
        object.__setattr__(self, "_warned_unrated", True)
        logger.warning(
            "Step %r: a row has ratings %r, so no generation can be chosen or rejected: its chosen and"
            " rejected columns are None (later such rows are not reported).",
            self.name, ratings,
        )


def _rated(ratings: Any) -> bool:
    """Whether ``ratings`` rank the generations: not ``None``, not empty, no ``None`` among them."""
    if ratings is None:
        return False
    if isinstance(ratings, (list, tuple)):
        return bool(ratings) and all(rating is not None for rating in ratings)
    return True


class FormatTextGenerationDPO(_FormatDPO):
    """Formats ``TextGeneration`` + rating output for DPO; the conversation is the optional system
    prompt and the ``instruction`` as the user message.

    Input columns: ``instruction``, ``generations``, ``ratings``; optional ``system_prompt`` (used
    when a non-empty string) and ``generation_models`` (gives ``chosen_model``/``rejected_model``).
    Output columns: ``prompt`` (the instruction), ``prompt_id`` (its SHA-256), ``chosen``,
    ``chosen_model``, ``chosen_rating``, ``rejected``, ``rejected_model``, ``rejected_rating``.
    """

    @property
    def inputs(self) -> StepColumns:
        return {
            "system_prompt": False,
            "instruction": True,
            "generations": True,
            "generation_models": False,
            "ratings": True,
        }

    def _prompt(self, row: Dict[str, Any]) -> Tuple[str, ChatType]:
        return instruction_prompt(self.name, row)


class FormatChatGenerationDPO(_FormatDPO):
    """Formats ``ChatGeneration`` + rating output for DPO; the conversation is the row's ``messages``.

    Input columns: ``messages``, ``generations``, ``ratings``; a ``generation_models`` column, when
    rows have one, gives ``chosen_model``/``rejected_model``.
    Output columns: ``prompt`` (the first user message), ``prompt_id`` (its SHA-256), ``chosen``,
    ``chosen_model``, ``chosen_rating``, ``rejected``, ``rejected_model``, ``rejected_rating``.
    """

    @property
    def inputs(self) -> StepColumns:
        return ["messages", "generations", "ratings"]

    def _prompt(self, row: Dict[str, Any]) -> Tuple[str, ChatType]:
        return conversation_prompt(self.name, row)
