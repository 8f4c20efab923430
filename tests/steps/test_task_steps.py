"""distilabel 1.5.3's task layer: custom ``Task`` subclasses, ``@task``, UltraFeedback, SelfInstruct, EvolInstruct
and GenerateSentencePair, on a deterministic canned LLM, directly, through ``pipeline.run()`` and ``dag.test()``."""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts
from airflow_dististage.steps.tasks import (
    EvolInstruct,
    GenerateSentencePair,
    SelfInstruct,
    Task,
    UltraFeedback,
    task,
)
from airflow_dististage.steps.tasks.evol_instruct.utils import MUTATION_TEMPLATES
from airflow_dististage.steps.tasks.templates.ultrafeedback import ASPECT_TEMPLATES
from tests.runtime.conftest import rows_of, store_path  # noqa: F401 - store_path is a fixture
from tests.steps.canned_llm import CannedLLM
from tests.steps.test_steps_dag_test import dag_distiset



def _build(cls, **kwargs):
    with Pipeline(name="task-steps"):
        return cls(**kwargs)


def _process(step, rows):
    (out,) = list(step.process(rows))
    return out


# -- Task base: a custom task as distilabel documents it ------------------------------------------------------
class Answer(Task):
    """A user-defined task: an answer per instruction, upper-cased."""

    @property
    def inputs(self):
        return ["instruction"]

    @property
    def outputs(self):
        return ["answer", "model_name"]

    def format_input(self, input: Dict[str, Any]):  # noqa: A002
        return [{"role": "user", "content": input["instruction"]}]

    def format_output(self, output: Optional[str], input: Optional[Dict[str, Any]] = None):  # noqa: A002
        return {"answer": output.upper() if output is not None else None}


def test_module_paths_and_names_are_distilabels() -> None:
    from airflow_dististage.steps.tasks.base import Task as BaseTask
    from airflow_dististage.steps.tasks.decorator import task as decorator_task
    from airflow_dististage.steps.tasks.evol_instruct.base import EvolInstruct as Evol
    from airflow_dististage.steps.tasks.self_instruct import SelfInstruct as Self
    from airflow_dististage.steps.tasks.sentence_transformers import GenerateSentencePair as Pair
    from airflow_dististage.steps.tasks.ultrafeedback import UltraFeedback as Judge

    assert (BaseTask, decorator_task, Evol, Self, Pair, Judge) == (
        Task, task, EvolInstruct, SelfInstruct, GenerateSentencePair, UltraFeedback
    )
    llm = CannedLLM(replies={})
    with Pipeline(name="names"):
        steps = [
            UltraFeedback(llm=llm), SelfInstruct(llm=llm), EvolInstruct(llm=llm, num_evolutions=1),
            GenerateSentencePair(llm=llm, action="query"), Answer(llm=llm),
        ]
    assert [s.name for s in steps] == [
        "ultra_feedback_0", "self_instruct_0", "evol_instruct_0", "generate_sentence_pair_0", "answer_0"
    ]
    judge, self_instruct, evol, pair, answer = steps
    assert (judge.aspect, judge.num_generations, judge.group_generations) == ("overall-rating", 1, False)
    assert (judge.add_raw_output, judge.add_raw_input) == (True, True)
    assert (self_instruct.num_instructions, self_instruct.application_description) == (5, "AI assistant")
    assert (evol.store_evolutions, evol.generate_answers, evol.include_original_instruction, evol.seed) == (
        False, False, False, 42
    )
    assert evol.mutation_templates == MUTATION_TEMPLATES and evol.mutation_templates_names == [
        "CONSTRAINTS", "DEEPENING", "CONCRETIZING", "INCREASED_REASONING_STEPS", "BREADTH"
    ]
    assert (pair.triplet, pair.hard_negative, pair.context) == (False, False, "")
    assert answer.inputs == ["instruction"] and answer.outputs == ["answer", "model_name"]


def test_a_custom_task_writes_distilabels_columns_and_metadata() -> None:
    step = _build(Answer, name="answer", llm=CannedLLM(replies={"hi": "hello"}, logprobs=True))
    assert _process(step, [{"instruction": "hi"}]) == [
        {
            "instruction": "hi",
            "answer": "HELLO",
            "distilabel_metadata": {
                "raw_output_answer": "hello",
                "raw_input_answer": [{"role": "user", "content": "hi"}],
                "statistics_answer": {"input_tokens": 1, "output_tokens": 1},
            },
            "llm_answer_logprobs": [-0.0],
            "model_name": "canned",
        }
    ]


def test_num_generations_flat_and_grouped() -> None:
    llm = CannedLLM(replies={"hi": ["a", "b c"]})
    flat = _build(Answer, name="flat", llm=llm, num_generations=2, add_raw_input=False)
    flat = _process(flat, [{"instruction": "hi"}])
    assert [(row["answer"], row["distilabel_metadata"]) for row in flat] == [
        ("A", {"raw_output_flat": "a", "statistics_flat": {"input_tokens": 1, "output_tokens": 1}}),
        ("B C", {"raw_output_flat": "b c", "statistics_flat": {"input_tokens": 1, "output_tokens": 2}}),
    ]
    grouped = _build(Answer, name="grouped", llm=llm, num_generations=2, group_generations=True, add_raw_input=False)
    assert _process(grouped, [{"instruction": "hi"}]) == [
        {
            "instruction": "hi",
            "answer": ["A", "B C"],
            "distilabel_metadata": [
                {"raw_output_grouped": "a", "statistics_grouped": {"input_tokens": 1, "output_tokens": 1}},
                {"raw_output_grouped": "b c", "statistics_grouped": {"input_tokens": 1, "output_tokens": 2}},
            ],
            "model_name": "canned",
        }
    ]


def test_a_failed_generation_reaches_format_output_as_none_with_its_error() -> None:
    step = _build(Answer, name="answer", llm=CannedLLM(replies={}), add_raw_input=False)
    (row,) = _process(step, [{"instruction": "hi"}])
    assert row["answer"] is None
    assert row["distilabel_metadata"] == {
        "raw_output_answer": None,
        "statistics_answer": {"input_tokens": None, "output_tokens": None},
        "error_answer": "no canned reply",
    }


def test_a_tasks_metadata_replaces_the_rows_as_in_distilabel() -> None:
    """distilabel 1.5.3 writes ``{**row, **formatted}``: a task's metadata replaces the row's, a task that
    writes none (no raw output, raw input nor statistics) leaves the row's, or adds no column."""
    chained = _build(Answer, name="second", llm=CannedLLM(replies={"hi": "hello"}), add_raw_input=False)
    (row,) = _process(chained, [{"instruction": "hi", "distilabel_metadata": {"raw_output_first": "x"}}])
    assert row["distilabel_metadata"] == {
        "raw_output_second": "hello", "statistics_second": {"input_tokens": 1, "output_tokens": 1},
    }
    quiet = _build(Answer, name="quiet", llm=NoStatisticsLLM(), add_raw_input=False, add_raw_output=False)
    assert _process(quiet, [{"instruction": "hi"}]) == [{"instruction": "hi", "answer": "OK", "model_name": "plain"}]
    (kept,) = _process(quiet, [{"instruction": "hi", "distilabel_metadata": {"raw_output_first": "x"}}])
    assert kept["distilabel_metadata"] == {"raw_output_first": "x"}


class NoStatisticsLLM(CannedLLM):
    """Answers "ok" to everything and reports no token counts."""

    replies: Dict[str, Any] = {}
    model: str = "plain"

    def generate(self, inputs, num_generations: int = 1, **generation_kwargs: Any):
        return [{"generations": ["ok"] * num_generations} for _ in inputs]


def test_custom_task_and_groups_through_pipeline_run(store_path: str) -> None:  # noqa: F811
    llm = CannedLLM(replies={"one": ["1", "uno"], "two": "2"})
    with Pipeline(name="custom-tasks") as pipeline:
        data = LoadDataFromDicts(data=[{"instruction": "one"}, {"instruction": "two"}])
        data >> Answer(name="flat", llm=llm, num_generations=2, add_raw_input=False)
        data >> Answer(name="grouped", llm=llm, num_generations=2, group_generations=True, add_raw_output=False)
    distiset = pipeline.run(storage_parameters={"path": store_path}, use_cache=False)
    stats = {"input_tokens": 1, "output_tokens": 1}
    assert rows_of(distiset, "flat") == [
        {"instruction": i, "answer": a, "distilabel_metadata": {"raw_output_flat": raw, "statistics_flat": stats},
         "model_name": "canned"}
        for i, a, raw in (("one", "1", "1"), ("one", "UNO", "uno"), ("two", "2", "2"), ("two", "2", "2"))
    ]
    chat = [{"role": "user", "content": "one"}], [{"role": "user", "content": "two"}]
    assert rows_of(distiset, "grouped") == [
        {"instruction": "one", "answer": ["1", "UNO"], "model_name": "canned",
         "distilabel_metadata": [{"raw_input_grouped": chat[0], "statistics_grouped": stats}] * 2},
        {"instruction": "two", "answer": ["2", "2"], "model_name": "canned",
         "distilabel_metadata": [{"raw_input_grouped": chat[1], "statistics_grouped": stats}] * 2},
    ]


# -- @task ---------------------------------------------------------------------------------------------------
@task(inputs=["text", "style"], outputs=["summary"])
def Summarise(output: str | None, input: dict | None = None) -> dict:
    """Summarises a text.

    ---
    system_prompt: |
      You summarise texts {style}.
    user_message_template: "Summarise: {text}"
    ---
    """
    return {"summary": output, "length": None if output is None else len(input["text"])}


def test_the_task_decorator_builds_a_task_from_the_docstring() -> None:
    step = _build(Summarise, llm=CannedLLM(replies={"Summarise: sea": "blue"}), add_raw_output=False)
    assert issubclass(Summarise, Task) and step.name == "summarise_0"
    assert (step.inputs, step.outputs) == (["text", "style"], ["summary"])
    chat = [
        {"role": "system", "content": "You summarise texts briefly."},
        {"role": "user", "content": "Summarise: sea"},
    ]
    assert step.format_input({"text": "sea", "style": "briefly"}) == chat
    assert _process(step, [{"text": "sea", "style": "briefly"}]) == [
        {"text": "sea", "style": "briefly", "summary": "blue", "length": 3, "model_name": "canned",
         "distilabel_metadata": {"raw_input_summarise_0": chat,
                                 "statistics_summarise_0": {"input_tokens": 2, "output_tokens": 1}}}
    ]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (None, "has no docstring"),
        ("No block.", "YAML block between `---` lines"),
        ("---\nsystem_prompt: s\n---", "both `system_prompt` and `user_message_template`"),
        ("---\n[unclosed\n---", "does not parse"),
        ("---\n- a list\n---", "YAML block between `---` lines"),
        ("---\nsystem_prompt: about {topic}\nuser_message_template: '{text}'\n---", r"\['topic'\]"),
    ],
)
def test_the_task_decorator_rejects_bad_docstrings(doc: Optional[str], message: str) -> None:
    def Bad(output, input=None):  # noqa: A002
        return {}

    Bad.__doc__ = doc
    with pytest.raises(ValueError, match=message):
        task(inputs=["text"])(Bad)


# -- UltraFeedback -------------------------------------------------------------------------------------------
TWO = {"instruction": "What's 2+2?", "generations": ["4", "a car"]}
RATED = (
    "#### Output for Text 1\nRating: 5\nRationale: Correct.\n\n"
    "#### Output for Text 2\nRating: 1 (Poor)\nRationale: Off."
)
TYPED = (
    "#### Output for Text 1\nType: 1, 2\nRationale: Clear.\nRating: 4\nRationale: Good.\n\n"
    "#### Output for Text 2\nType: None\nRationale: Nothing.\nRating: N/A\nRationale: Unrelated."
)


def _judge(aspect: str, reply: Optional[str] = None) -> UltraFeedback:
    return _build(UltraFeedback, aspect=aspect, llm=CannedLLM(replies={} if reply is None else {"2+2": reply}))


@pytest.mark.parametrize("aspect", ["honesty", "instruction-following", "overall-rating"])
def test_ultrafeedback_rating_aspects(aspect: str) -> None:
    judge = _judge(aspect, RATED)
    assert judge.outputs == ["ratings", "rationales", "model_name"]
    system, user = judge.format_input(TWO)
    assert system == {"role": "system", "content": (
        "Your role is to evaluate text quality based on given criteria.\n"
        'You\'ll receive an instructional description ("Instruction") and 2 text outputs ("Text").\n'
        "Understand and interpret instructions to evaluate effectively.\n"
        "Provide annotations for each text with a rating and rationale.\n"
        "The 2 texts given are independent, and should be evaluated separately.\n"
    )}
    assert user["content"].startswith(ASPECT_TEMPLATES[aspect][:60])
    assert user["content"].endswith("Instruction: What's 2+2?\n\nTexts:\n<text 1> 4\n<text 2> a car\n\n### Output\n")
    assert judge.format_output(RATED, TWO) == {"ratings": [5, 1], "rationales": ["Correct.", "Off."]}


@pytest.mark.parametrize("aspect", ["helpfulness", "truthfulness"])
def test_ultrafeedback_typed_aspects(aspect: str) -> None:
    judge = _judge(aspect, TYPED)
    assert judge.outputs == ["types", "rationales", "ratings", "rationales-for-ratings", "model_name"]
    assert judge.format_output(TYPED, TWO) == {
        "types": [1, None], "rationales": ["Clear.", "Nothing."], "ratings": [4, None],
        "rationales-for-ratings": ["Good.", "Unrelated."],
    }
    assert "<text 2> [Text 2]" in judge.format_input(TWO)[1]["content"]


def test_ultrafeedback_parsing_edge_cases() -> None:
    judge = _judge("overall-rating")
    assert judge.format_output(None, TWO) == {"ratings": [None, None], "rationales": [None, None]}
    assert judge.format_output("I cannot rate these.", TWO) == {"ratings": [None], "rationales": [None]}
    partial = "Rating: 3\nRationale: Fine.\n\nno idea"
    assert judge.format_output(partial, TWO) == {"ratings": [3, None], "rationales": ["Fine.", None]}
    not_applicable = judge.format_output("Rating: N/A\nRationale: Creative.", TWO)
    assert not_applicable == {"ratings": [None], "rationales": ["Creative."]}
    assert _judge("truthfulness").format_output(None, TWO) == {
        "types": [None, None], "rationales": [None, None], "ratings": [None, None],
        "rationales-for-ratings": [None, None],
    }
    with pytest.raises(ValueError, match="aspect must be one of"):
        _judge("style")


def test_ultrafeedback_rows_for_good_malformed_and_unscorable_judgements() -> None:
    judge = _build(UltraFeedback, name="judge", add_raw_input=False, llm=CannedLLM(model="judge", replies={
        "2+2": RATED, "France": "I cannot rate these.", "Sky": "Rating: five\nRationale: Nice.",
    }))
    rows = [TWO, {"instruction": "Capital of France?", "generations": ["Paris"]},
            {"instruction": "Sky colour?", "generations": ["blue"]}]
    out = _process(judge, rows)
    assert [(row["ratings"], row["rationales"], row["model_name"]) for row in out] == [
        ([5, 1], ["Correct.", "Off."], "judge"), ([None], [None], "judge"), (None, None, "judge"),
    ]
    assert out[1]["distilabel_metadata"]["raw_output_judge"] == "I cannot rate these."
    assert "no number in the score 'five'" in out[2]["distilabel_metadata"]["error_judge"]


# -- SelfInstruct --------------------------------------------------------------------------------------------
def test_self_instruct_prompt_and_instructions() -> None:
    llm = CannedLLM(replies={"fractions": "Add 1/2 and 1/3.\n\n What is 3/4 of 8?\n"})
    step = _build(SelfInstruct, num_instructions=2, application_description="A maths tutor",
                  criteria_for_query_generation="Be short.", llm=llm)
    assert step.outputs == ["instructions", "model_name"] and step.inputs == ["input"]
    assert step.format_input({"input": "fractions"}) == [{"role": "user", "content": (
        "# Task Description\nDevelop 2 user queries that can be received by the given AI application and applicable"
        " to the provided context. Emphasize diversity in verbs and linguistic structures within the model's textual"
        " capabilities.\n\n# Criteria for Queries\nBe short.\nWrite each query on a separate line and avoid using"
        " numbered lists or bullet points.\n\n# AI Application\nA maths tutor\n\n# Context\nfractions\n\n# Output\n"
    )}]
    (row,) = _process(step, [{"input": "fractions"}])
    assert row["instructions"] == ["Add 1/2 and 1/3.", " What is 3/4 of 8?"]
    assert step.format_output(None) == {"instructions": []}


# -- EvolInstruct --------------------------------------------------------------------------------------------
TEMPLATES = {"UP": "Harder: <PROMPT>"}
EVOLVER = CannedLLM(model="evolver", replies={
    "Harder: a!!": "#Rewritten Prompt#: a!!!", "Harder: a!": "Prompt#: a!!", "Harder: a": "#Rewritten Prompt#:\n a! ",
    "a!!!": "answer 3", "a!!": "answer 2", "a!": "answer 1",
})


@pytest.mark.parametrize(
    ("options", "columns"),
    [
        ({}, {"evolved_instruction": "a!!!"}),
        ({"store_evolutions": True}, {"evolved_instructions": ["a!", "a!!", "a!!!"]}),
        ({"store_evolutions": True, "include_original_instruction": True},
         {"evolved_instructions": ["a", "a!", "a!!", "a!!!"]}),
        ({"generate_answers": True}, {"evolved_instruction": "a!!!", "answer": "answer 3"}),
        ({"store_evolutions": True, "generate_answers": True},
         {"evolved_instructions": ["a!", "a!!", "a!!!"], "answers": ["answer 1", "answer 2", "answer 3"]}),
    ],
)
def test_evol_instruct_evolves_through_the_mutations(options: dict, columns: dict) -> None:
    step = _build(EvolInstruct, name="evol", llm=EVOLVER, num_evolutions=3, mutation_templates=TEMPLATES, **options)
    assert step.outputs == [*columns][:1] + ["model_name"] + [*columns][1:]
    (row,) = _process(step, [{"instruction": "a", "distilabel_metadata": {"raw_output_before": "x"}}])
    metadata = {"statistics_instruction_evol": {"input_tokens": [2, 2, 2], "output_tokens": [3, 2, 3]}}
    if options.get("generate_answers"):  # as in distilabel, only the answers' token counts are kept then
        answered = len(columns.get("answers", [1]))
        metadata = {"statistics_answer_evol": {"input_tokens": [1] * answered, "output_tokens": [2] * answered}}
    assert row == {"instruction": "a", **columns, "model_name": "evolver", "distilabel_metadata": metadata}


def test_evol_instruct_picks_mutations_with_its_seed() -> None:
    llm = CannedLLM(replies={name: f"Prompt#: {name}" for name in ("constraints", "depth", "specific", "multiple-step",
                                                                    "Prompt Creator")})
    rows = [{"instruction": f"task {i}"} for i in range(6)]

    def picks(seed: int) -> list:
        step = _build(EvolInstruct, llm=llm, num_evolutions=1, seed=seed)
        return [row["evolved_instruction"] for row in _process(step, [dict(row) for row in rows])]

    pinned = ["specific", "depth", "specific", "multiple-step", "Prompt Creator", "multiple-step"]
    assert picks(42) == picks(42) == pinned
    assert picks(7) != picks(42)
    prompt = MUTATION_TEMPLATES["BREADTH"].replace("<PROMPT>", "task 0")
    assert prompt.endswith("#Given Prompt#:\ntask 0\n#Created Prompt#:\n\n")


def test_evol_instruct_keeps_going_when_the_llm_fails_a_row() -> None:
    step = _build(EvolInstruct, name="evol", llm=EVOLVER, num_evolutions=2, store_evolutions=True,
                  mutation_templates=TEMPLATES)
    (good, bad) = _process(step, [{"instruction": "a"}, {"instruction": "zzz"}])
    assert good["evolved_instructions"] == ["a!", "a!!"]
    assert bad["evolved_instructions"] == [None, None]
    assert bad["distilabel_metadata"]["error_evol"] == "no canned reply"


# -- GenerateSentencePair ------------------------------------------------------------------------------------
def test_generate_sentence_pair_prompts() -> None:
    llm = CannedLLM(replies={})
    positive = _build(GenerateSentencePair, action="paraphrase", llm=llm)
    assert positive.outputs == ["positive", "model_name"]
    assert positive.format_input({"anchor": "The cat sat."}) == [
        {"role": "system", "content": "Your task is to generate a positive sentence given an anchor sentence. The"
         " positive sentence has to paraphrase the anchor sentence. You must output only one new section:"
         " `## Positive`."},
        {"role": "user", "content": "## Anchor\n\nThe cat sat.\n"},
    ]
    triplet = _build(GenerateSentencePair, action="query", triplet=True, hard_negative=True, context="Pets.", llm=llm)
    assert triplet.outputs == ["positive", "negative", "model_name"]
    system, user = triplet.format_input({"anchor": "The cat sat."})
    assert system["content"] == (
        "Your task is to generate a positive and a negative sentence given an anchor sentence. Take into account the"
        " context given. The positive sentence has to be a query for the anchor sentence, while the negative sentence"
        " is a 'hard negative' that meets the following criteria:\n- Uses similar keywords or phrases as the anchor"
        " sentence\n- Has a similar grammatical structure or syntax\n- Is not related to the anchor sentence, but could"
        " be mistaken for it\nTry to create a negative sentence that would be challenging for a model to distinguish"
        " from the positive sentence. You must output only two new sections: `## Positive` and `## Negative`."
    )
    assert user["content"] == "## Context\n\nPets.\n\n## Anchor\n\nThe cat sat.\n"
    negative = _build(GenerateSentencePair, action="answer", triplet=True, llm=llm).format_input({"anchor": "x"})
    assert "be an answer for the anchor sentence, while the negative sentence can use similar words but must not be" \
           " related to the anchor sentence." in negative[0]["content"]
    with pytest.raises(ValueError, match="action must be one of"):
        _build(GenerateSentencePair, action="translate", llm=llm)


@pytest.mark.parametrize(
    ("triplet", "output", "expected"),
    [
        (False, "## Positive\n  A cat rested.  ", {"positive": "A cat rested."}),
        (False, None, {"positive": None}),
        (False, "no sections", {"positive": None}),
        (True, "## Positive\nA cat rested.\n\n## Negative\nStocks fell.\n", {"positive": "A cat rested.",
                                                                             "negative": "Stocks fell."}),
        (True, "## Positive\nA cat rested.", {"positive": "A cat rested.", "negative": None}),
        (True, "nothing", {"positive": None, "negative": None}),
    ],
)
def test_generate_sentence_pair_parsing(triplet: bool, output: Optional[str], expected: dict) -> None:
    step = _build(GenerateSentencePair, action="paraphrase", triplet=triplet, llm=CannedLLM(replies={}))
    assert step.format_output(output) == expected


# -- a family through pipeline.run() and dag.test() ----------------------------------------------------------
def test_judge_and_pairs_through_pipeline_run(store_path: str) -> None:  # noqa: F811
    llm = CannedLLM(model="m", replies={"2+2": RATED, "cat": "## Positive\nA cat rested.\n## Negative\nStocks fell."})
    with Pipeline(name="task-family") as pipeline:
        data = LoadDataFromDicts(data=[{**TWO, "anchor": "The cat sat."}])
        data >> UltraFeedback(name="judge", llm=llm, add_raw_input=False, add_raw_output=False)
        data >> GenerateSentencePair(name="pairs", llm=llm, action="paraphrase", triplet=True, add_raw_input=False)
    distiset = pipeline.run(storage_parameters={"path": store_path}, use_cache=False)
    base = {**TWO, "anchor": "The cat sat."}
    assert rows_of(distiset, "judge") == [
        {**base, "ratings": [5, 1], "rationales": ["Correct.", "Off."], "model_name": "m",
         "distilabel_metadata": {"statistics_judge": {"input_tokens": 230, "output_tokens": 19}}}
    ]
    assert rows_of(distiset, "pairs") == [
        {**base, "positive": "A cat rested.", "negative": "Stocks fell.", "model_name": "m",
         "distilabel_metadata": {"raw_output_pairs": "## Positive\nA cat rested.\n## Negative\nStocks fell.",
                                 "statistics_pairs": {"input_tokens": 5, "output_tokens": 9}}}
    ]


def test_task_steps_dag(airflow_env, dag_runs) -> None:
    distiset = dag_distiset(airflow_env, dag_runs, "task_steps")
    base = [
        {"instruction": "What's 2+2?", "generations": ["4", "a car"], "input": "arithmetic"},
        {"instruction": "Capital of France?", "generations": ["Paris", "Lyon"], "input": "geography"},
    ]
    judged = distiset["judge"]["train"].select_columns(["instruction", "ratings", "rationales", "model_name"])
    assert judged.to_list() == [
        {"instruction": "What's 2+2?", "ratings": [5, 1], "rationales": ["Correct.", "Off."], "model_name": "judge"},
        {"instruction": "Capital of France?", "ratings": [None], "rationales": [None], "model_name": "judge"},
    ]
    assert distiset["topic"]["train"]["topic"] == ["MATHS", "PLACES"]
    assert distiset["topic"]["train"]["distilabel_metadata"][0]["raw_input_topic"] == [
        {"role": "system", "content": "You name topics."}, {"role": "user", "content": "Topic of: arithmetic"}
    ]
    assert distiset["queries"]["train"].to_list() == [
        {**base[0], "instructions": ["Add 1 and 2.", "What is 3*3?"], "model_name": "canned",
         "distilabel_metadata": {"statistics_queries": {"input_tokens": 112, "output_tokens": 7}}},
        {**base[1], "instructions": ["Name a river."], "model_name": "canned",
         "distilabel_metadata": {"statistics_queries": {"input_tokens": 112, "output_tokens": 3}}},
    ]
    usage = distiset.metadata["token_usage"]
    assert usage["steps"]["queries"] == {"input_tokens": 224, "output_tokens": 10}
    for name in ("judge", "topic", "queries"):  # the totals are what the rows' statistics say
        statistics = [row[f"statistics_{name}"] for row in distiset[name]["train"]["distilabel_metadata"]]
        expected = {key: sum(counts[key] for counts in statistics) for key in ("input_tokens", "output_tokens")}
        assert usage["steps"][name] == expected
    assert usage["input_tokens"] == sum(step["input_tokens"] for step in usage["steps"].values())
    assert usage["output_tokens"] == sum(step["output_tokens"] for step in usage["steps"].values())
