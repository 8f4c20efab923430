"""Runtime-parameter values are checked against their declared type and the owner's own checks."""

from __future__ import annotations

import pytest

from airflow_dististage.llms import OpenAILLM
from airflow_dististage.mixins.runtime_parameters import check_value_type
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts
from airflow_dististage.steps.tasks import TextGeneration


def _pipeline() -> Pipeline:
    with Pipeline(name="values") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "hi"}]) >> TextGeneration(llm=OpenAILLM(model="m", base_url="http://x/v1"))
    return pipeline


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"input_batch_size": "abc"}, "Step 'text_generation_0'.input_batch_size must be of type int, got 'abc'"),
        ({"input_batch_size": True}, "input_batch_size must be of type int, got True"),
        ({"num_generations": 0}, "text_generation_0.*num_generations must be an integer >= 1"),
        ({"llm": {"max_concurrency": -3}}, "Step 'text_generation_0'.llm.*max_concurrency must be an integer >= 1"),
        ({"llm": {"generation_kwargs": {"temperature": "hot"}}}, "llm.generation_kwargs.temperature must be of type float"),
        ({"llm": {"timeout": "soon"}}, "llm.timeout must be of type float"),
        ({"add_raw_output": "yes"}, "add_raw_output must be of type bool"),
    ],
)
def test_bad_values_are_rejected_naming_step_and_parameter(values: dict, message: str) -> None:
    pipeline = _pipeline()
    with pytest.raises(ValueError, match=message):
        pipeline.set_runtime_parameters({"text_generation_0": values})


def test_good_values_are_applied() -> None:
    pipeline = _pipeline()
    pipeline.set_runtime_parameters(
        {
            "text_generation_0": {
                "input_batch_size": 8,
                "num_generations": 2,
                "llm": {"timeout": 5, "generation_kwargs": {"temperature": 0, "stop": ["\n"]}},
            }
        }
    )
    task = pipeline.steps["text_generation_0"]
    assert (task.input_batch_size, task.num_generations, task.llm.timeout) == (8, 2, 5)
    assert task.llm.generation_kwargs == {"temperature": 0, "stop": ["\n"]}


@pytest.mark.parametrize(
    ("value", "value_type", "valid"),
    [
        (1, int, True),
        (True, int, False),
        (1, float, True),
        (1.5, float, True),
        (False, float, False),
        (1.5, int, False),
        ("a", str, True),
        (None, int, True),
        ({}, dict, True),
        ([], dict, False),
        (["a"], list, True),
        ("anything", object, True),
    ],
)
def test_value_types(value: object, value_type: type, valid: bool) -> None:
    if valid:
        check_value_type("p", value, value_type)
    else:
        with pytest.raises(ValueError, match="p must be of type"):
            check_value_type("p", value, value_type)
