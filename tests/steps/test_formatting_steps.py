"""Formatting steps: ``process`` on distilabel's documented rows (``prompt_id`` values included), the
DPO pick on ties and missing ratings, a real ``pipeline.run()``, and errors naming step and column."""

from __future__ import annotations

import hashlib

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.pipeline.base import PipelineValidationError
from airflow_dististage.runtime.local import StepFailedError
from airflow_dististage.steps import (
    ConversationTemplate,
    FormatChatGenerationDPO,
    FormatChatGenerationSFT,
    FormatTextGenerationDPO,
    FormatTextGenerationSFT,
    GroupColumns,
    LoadDataFromDicts,
)
from airflow_dististage.steps.column_checks import MissingColumnError
from airflow_dististage.steps.formatting import conversation, dpo, sft
from tests.runtime.conftest import rows_of, store_path  # noqa: F401 - store_path is a fixture

TWO_PLUS_TWO_ID = "7762ecf17ad41479767061a8f4a7bfa3b63d371672af5180872f9b82b4cd4e29"  # distilabel's docs and tests
USER = {"role": "user", "content": "What's 2+2?"}


def test_module_paths_are_distilabels() -> None:
    assert sft.FormatTextGenerationSFT is FormatTextGenerationSFT
    assert sft.FormatChatGenerationSFT is FormatChatGenerationSFT
    assert dpo.FormatTextGenerationDPO is FormatTextGenerationDPO
    assert dpo.FormatChatGenerationDPO is FormatChatGenerationDPO
    assert conversation.ConversationTemplate is ConversationTemplate


def test_columns_are_distilabels() -> None:
    pair = ["prompt", "prompt_id", "chosen", "chosen_model", "chosen_rating", "rejected", "rejected_model",
            "rejected_rating"]
    assert FormatTextGenerationSFT().inputs == {"system_prompt": False, "instruction": True, "generation": True}
    assert FormatChatGenerationSFT().inputs == ["messages", "generation"]
    assert FormatTextGenerationSFT().outputs == FormatChatGenerationSFT().outputs == ["prompt", "prompt_id", "messages"]
    assert FormatTextGenerationDPO().inputs == {
        "system_prompt": False, "instruction": True, "generations": True, "generation_models": False, "ratings": True
    }
    assert FormatChatGenerationDPO().inputs == ["messages", "generations", "ratings"]
    assert FormatTextGenerationDPO().outputs == FormatChatGenerationDPO().outputs == pair
    assert ConversationTemplate().inputs == ["instruction", "response"]
    assert ConversationTemplate().outputs == ["conversation"]


def test_prompt_id_is_the_sha256_of_the_utf8_prompt() -> None:
    (rows,) = FormatTextGenerationSFT().process([{"instruction": "¿Qué tal? 🙂", "generation": "bien"}])
    assert rows[0]["prompt_id"] == hashlib.sha256("¿Qué tal? 🙂".encode()).hexdigest()


# -- SFT -------------------------------------------------------------------------------------
def test_text_generation_sft() -> None:
    (rows,) = FormatTextGenerationSFT().process([{"instruction": "What's 2+2?", "generation": "4"}])
    assert rows == [
        {
            "instruction": "What's 2+2?",
            "generation": "4",
            "prompt": "What's 2+2?",
            "prompt_id": TWO_PLUS_TWO_ID,
            "messages": [USER, {"role": "assistant", "content": "4"}],
        }
    ]


@pytest.mark.parametrize(("system_prompt", "has_system"), [("You are a helpful assistant.", True), ("", False),
                                                            (None, False)])
def test_text_generation_sft_uses_a_non_empty_system_prompt(system_prompt, has_system) -> None:
    (rows,) = FormatTextGenerationSFT().process(
        [{"system_prompt": system_prompt, "instruction": "What's 2+2?", "generation": "4"}]
    )
    system = [{"role": "system", "content": system_prompt}] if has_system else []
    assert rows[0]["messages"] == [*system, USER, {"role": "assistant", "content": "4"}]


def test_chat_generation_sft_takes_the_first_user_message_as_prompt() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        USER,
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
    ]
    (rows,) = FormatChatGenerationSFT().process([{"messages": messages, "generation": "6"}])
    assert rows == [
        {
            "messages": [*messages, {"role": "assistant", "content": "6"}],
            "generation": "6",
            "prompt": "What's 2+2?",
            "prompt_id": TWO_PLUS_TWO_ID,
        }
    ]


def test_sft_yields_one_batch_per_predecessor() -> None:
    batches = list(FormatTextGenerationSFT().process([{"instruction": "a", "generation": "b"}],
                                                     [{"instruction": "c", "generation": "d"}]))
    assert [[row["prompt"] for row in batch] for batch in batches] == [["a"], ["c"]]


# -- DPO -------------------------------------------------------------------------------------
def _text_dpo_row(**extra) -> dict:
    return {"instruction": "What's 2+2?", "generations": ["4", "5", "6"], "ratings": [1, 0, -1], **extra}


def _two_plus_two_pair(row: dict) -> dict:
    """``row`` with the DPO columns distilabel gives the "What's 2+2?" example (ratings 1, 0, -1)."""
    return {
        **row,
        "prompt": "What's 2+2?",
        "prompt_id": TWO_PLUS_TWO_ID,
        "chosen": [USER, {"role": "assistant", "content": "4"}],
        "chosen_rating": 1,
        "chosen_model": "A",
        "rejected": [USER, {"role": "assistant", "content": "6"}],
        "rejected_rating": -1,
        "rejected_model": "C",
    }


def test_text_generation_dpo_matches_distilabels_example() -> None:
    (rows,) = FormatTextGenerationDPO().process([_text_dpo_row(generation_models=["A", "B", "C"])])
    assert rows == [_two_plus_two_pair(_text_dpo_row(generation_models=["A", "B", "C"]))]


def test_text_generation_dpo_with_a_system_prompt_and_no_models() -> None:
    system = {"role": "system", "content": "You are a helpful assistant."}
    (rows,) = FormatTextGenerationDPO().process([_text_dpo_row(system_prompt="You are a helpful assistant.")])
    (row,) = rows
    assert row["chosen"] == [system, USER, {"role": "assistant", "content": "4"}]
    assert row["rejected"] == [system, USER, {"role": "assistant", "content": "6"}]
    assert "chosen_model" not in row and "rejected_model" not in row


def test_chat_generation_dpo() -> None:
    row = {"messages": [USER], "generations": ["4", "5", "6"], "generation_models": ["A", "B", "C"]}
    row["ratings"] = [1, 0, -1]
    (rows,) = FormatChatGenerationDPO().process([dict(row)])
    assert rows == [_two_plus_two_pair(row)]


@pytest.mark.parametrize(
    ("ratings", "chosen", "rejected"),
    [
        ([3, 5, 5, 1, 1], 1, 3),  # ties: the first of the highest, the first of the lowest
        ([2, 2, 2, 2, 2], 0, 0),  # all equal: both are the first generation
        ([0.5, 4.5, 2, 4.5, 0.5], 1, 0),
        ([7], 0, 0),
    ],
)
def test_dpo_picks_the_first_highest_and_the_first_lowest(ratings, chosen, rejected) -> None:
    generations = [f"g{i}" for i in range(len(ratings))]
    (rows,) = FormatTextGenerationDPO().process([_text_dpo_row(generations=generations, ratings=ratings,
                                                               generation_models=[f"m{i}" for i in generations])])
    (row,) = rows
    assert row["chosen"][-1]["content"] == f"g{chosen}" and row["chosen_model"] == f"mg{chosen}"
    assert row["rejected"][-1]["content"] == f"g{rejected}" and row["rejected_model"] == f"mg{rejected}"
    assert (row["chosen_rating"], row["rejected_rating"]) == (ratings[chosen], ratings[rejected])


@pytest.mark.parametrize("ratings", [None, [], [None, None], [4, None, 2]])
def test_dpo_rows_without_usable_ratings_get_no_pair(ratings, caplog) -> None:
    step = FormatTextGenerationDPO(name="dpo")
    with caplog.at_level("WARNING", logger="airflow_dististage.steps.formatting.dpo"):
        (rows,) = step.process([_text_dpo_row(ratings=ratings, generation_models=["A", "B", "C"]), _text_dpo_row()])
    unrated, rated = rows
    assert unrated["prompt_id"] == TWO_PLUS_TWO_ID
    for column in ("chosen", "chosen_model", "chosen_rating", "rejected", "rejected_model", "rejected_rating"):
        assert unrated[column] is None, column
    assert rated["chosen_rating"] == 1 and rated["rejected_rating"] == -1
    assert [record.getMessage() for record in caplog.records] == [
        f"Step 'dpo': a row has ratings {ratings!r}, so no generation can be chosen or rejected: its chosen and"
        " rejected columns are None (later such rows are not reported)."
    ]


# -- ConversationTemplate --------------------------------------------------------------------
def test_conversation_template() -> None:
    (rows,) = ConversationTemplate().process([{"instruction": "Hello", "response": "Hi"}])
    assert rows == [
        {
            "instruction": "Hello",
            "response": "Hi",
            "conversation": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi"}],
        }
    ]


# -- pipeline.run() --------------------------------------------------------------------------
def test_group_then_dpo_and_sft_in_a_pipeline(store_path: str) -> None:  # noqa: F811
    """Three 'models' answer and rate the same prompts: GroupColumns gathers them for the DPO pair,
    the first model's answers also go to SFT."""
    answers = {"m1": ["4", "Paris"], "m2": ["5", "Lyon"], "m3": ["four", "Paris!"]}
    scores = {"m1": [5, 3], "m2": [1, 1], "m3": [5, None]}
    prompts = ["What's 2+2?", "Capital of France?"]
    with Pipeline(name="dpo-pipeline") as pipeline:
        sources = [
            LoadDataFromDicts(
                name=model,
                data=[{"instruction": p, "generation": a, "model_name": model, "rating": r}
                      for p, a, r in zip(prompts, answers[model], scores[model])],
            )
            for model in answers
        ]
        grouped = GroupColumns(
            columns=["generation", "model_name", "rating"],
            output_columns=["generations", "generation_models", "ratings"],
        )
        sources >> grouped >> FormatTextGenerationDPO(name="dpo")
        sources[0] >> FormatTextGenerationSFT(name="sft")
    distiset = pipeline.run(storage_parameters={"path": store_path}, use_cache=False)
    assert sorted(distiset) == ["dpo", "sft"]
    dpo_rows = rows_of(distiset, "dpo")
    assert [
        (row["prompt"], row["chosen"], row["chosen_model"], row["chosen_rating"], row["rejected_model"],
         row["rejected_rating"])
        for row in dpo_rows
    ] == [
        ("What's 2+2?", [USER, {"role": "assistant", "content": "4"}], "m1", 5, "m2", 1),
        ("Capital of France?", None, None, None, None, None),
    ]
    assert [row["prompt_id"] for row in dpo_rows] == [TWO_PLUS_TWO_ID, hashlib.sha256(prompts[1].encode()).hexdigest()]
    sft_rows = rows_of(distiset, "sft")
    assert [row["messages"] for row in sft_rows] == [
        [USER, {"role": "assistant", "content": "4"}],
        [{"role": "user", "content": prompts[1]}, {"role": "assistant", "content": "Paris"}],
    ]


# -- errors ----------------------------------------------------------------------------------
def test_a_column_no_step_before_produces_is_a_build_time_error() -> None:
    with Pipeline(name="dpo-missing") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "x", "generations": ["a"]}]) >> FormatTextGenerationDPO(name="dpo")
    with pytest.raises(PipelineValidationError, match=r"Step 'dpo' needs column 'ratings'"):
        pipeline.validate()


@pytest.mark.parametrize(
    ("step", "row", "error", "message"),
    [
        (FormatTextGenerationSFT(name="sft"), {"instruction": "x"}, MissingColumnError,
         r"Step 'sft': a row lacks column 'generation'; it has \['instruction'\]"),
        (FormatTextGenerationSFT(name="sft"), {"instruction": ["x"], "generation": "y"}, TypeError,
         r"Step 'sft': column 'instruction' must hold a string, got list"),
        (FormatChatGenerationSFT(name="chat"), {"messages": [{"role": "system", "content": "s"}], "generation": "y"},
         ValueError, r"Step 'chat': column 'messages' has no user message"),
        (FormatChatGenerationSFT(name="chat"), {"messages": "hi", "generation": "y"}, TypeError,
         r"Step 'chat': column 'messages' must hold a list"),
        (FormatTextGenerationDPO(name="dpo"), _text_dpo_row(ratings=[1, 2]), ValueError,
         r"Step 'dpo': the lists of columns \['generations', 'ratings'\] in one row must have the same length"),
        (FormatTextGenerationDPO(name="dpo"), _text_dpo_row(ratings=5), TypeError,
         r"Step 'dpo': column 'ratings' must hold a list, got int 5"),
        (ConversationTemplate(name="conv"), {"instruction": "x"}, MissingColumnError,
         r"Step 'conv': a row lacks column 'response'"),
    ],
    ids=["sft-missing", "sft-not-str", "chat-no-user", "chat-not-list", "dpo-lengths", "dpo-ratings-type", "conv"],
)
def test_bad_rows_name_the_step_and_the_column(step, row, error, message) -> None:
    with pytest.raises(error, match=message):
        next(step.process([row]))


def test_a_bad_row_fails_the_run_naming_the_step_and_the_column(store_path: str) -> None:  # noqa: F811
    with Pipeline(name="chat-sft-bad") as pipeline:
        loader = LoadDataFromDicts(data=[{"messages": [{"role": "assistant", "content": "hi"}], "generation": "x"}])
        loader >> FormatChatGenerationSFT(name="chat_sft")
    with pytest.raises(StepFailedError, match=r"Step 'chat_sft'.*column 'messages' has no user message"):
        pipeline.run(storage_parameters={"path": store_path}, use_cache=False)
