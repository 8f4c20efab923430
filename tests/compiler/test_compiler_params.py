"""Runtime parameters as Airflow Params: types, defaults, sections, validation, and the way back."""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

import pytest
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import ParamValidationError

from airflow_dististage.compiler.options import CompileError
from airflow_dististage.compiler.params import collect_step_params, json_type, runtime_values
from airflow_dististage.llms import OpenAILLM, vLLM
from airflow_dististage.llms.remote import DEFAULT_MAX_CONCURRENCY
from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts, StepResources
from airflow_dististage.steps.tasks import TextGeneration
from tests.compiler.conftest import Upper


@pytest.mark.parametrize(
    ("value_type", "expected"),
    [(int, "integer"), (float, "number"), (str, "string"), (bool, "boolean"), (dict, "object"),
     (Dict[str, Any], "object"), (list, "array"), (List[str], "array"), (Any, None), (None, None)],
)
def test_json_types(value_type, expected):
    assert json_type(value_type) == expected


def test_step_params_have_types_defaults_descriptions_and_sections(gpu_pipeline, compile_options):
    params = gpu_pipeline.to_airflow(dag_id="params", **compile_options).params

    suffix = params.get_param("first__suffix")
    assert suffix.value == "!"
    assert suffix.description == "Appended to each response."
    assert suffix.schema == {"type": "string", "title": "suffix", "section": "first"}
    assert params.get_param("first__temperature").schema["type"] == ["null", "number"]
    assert params.get_param("first__extra").schema["type"] == "object"
    assert params.get_param("first__stop").schema["type"] == "array"
    assert params.get_param("first__verbose").schema["type"] == "boolean"
    assert params.get_param("load_data_from_dicts_0__batch_size").value == 2
    assert list(params)[:3] == ["load_data_from_dicts_0__batch_size", "first__input_batch_size", "first__suffix"]


def test_user_params_are_kept(gpu_pipeline, compile_options):
    params = gpu_pipeline.to_airflow(dag_id="user", params={"note": "hello"}, **compile_options).params

    assert params["note"] == "hello"
    assert "first__suffix" in params


def test_a_wrong_type_is_refused_naming_the_parameter(gpu_pipeline, compile_options):
    run_params = ParamsDict(gpu_pipeline.to_airflow(dag_id="wrong", **compile_options).params)
    run_params.update({"first__input_batch_size": 3, "first__temperature": None})

    with pytest.raises(ParamValidationError, match="param first__input_batch_size: 'many' is not of type 'integer'"):
        run_params.update({"first__input_batch_size": "many"})


def test_run_values_map_back_to_nested_runtime_parameters(gpu_pipeline):
    step_params = collect_step_params(gpu_pipeline)
    values = {"first__suffix": "?", "first__temperature": 0.5, "dedup__input_batch_size": 7, "note": "not ours"}

    nested = runtime_values(step_params, values)

    assert nested["first"] == {
        "input_batch_size": 50, "suffix": "?", "temperature": 0.5, "extra": {}, "stop": [], "verbose": False
    }
    assert nested["dedup"] == {"input_batch_size": 7}
    assert nested["second"]["suffix"] == "!"  # not in the run's values: the compiled default
    gpu_pipeline.set_runtime_parameters(nested)
    assert gpu_pipeline.steps["first"].suffix == "?"
    assert gpu_pipeline.steps["dedup"].input_batch_size == 7


def test_a_runs_conf_does_not_leak_into_the_next_run_of_the_process(gpu_pipeline, compile_options):
    """Airflow resolves every Param for a run; a run back at the defaults must restore the steps."""
    dag = gpu_pipeline.to_airflow(dag_id="two_runs", **compile_options)
    step_params = collect_step_params(gpu_pipeline)

    def start_run(conf: dict[str, Any]) -> None:
        run_params = copy.deepcopy(ParamsDict(dag.params))  # Airflow gives each run its own Params
        run_params.update(conf)
        gpu_pipeline.set_runtime_parameters(runtime_values(step_params, run_params.dump()))

    start_run({"first__suffix": "?", "first__stop": ["x"], "first__temperature": 0.1})
    assert (gpu_pipeline.steps["first"].suffix, gpu_pipeline.steps["first"].temperature) == ("?", 0.1)
    start_run({})
    first = gpu_pipeline.steps["first"]
    assert (first.suffix, first.stop, first.temperature) == ("!", [], None)
    first.stop.append("mutated by a step")
    start_run({})
    assert gpu_pipeline.steps["first"].stop == []  # each run gets its own copy of a default


def test_nested_parameters_get_one_key_per_leaf(compile_options):
    from airflow_dististage.mixins.runtime_parameters import Declarative

    class Sampler(Declarative):
        temperature: RuntimeParameter[float] = 0.7
        max_new_tokens: RuntimeParameter[Optional[int]] = None

    class WithSampler(Upper):
        sampler: Sampler

    with Pipeline(name="nested") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "a"}]) >> WithSampler(name="gen", sampler=Sampler())
    step_params = collect_step_params(pipeline)
    params = pipeline.to_airflow(dag_id="nested", **compile_options).params

    assert params.get_param("gen__sampler__temperature").schema == {
        "type": "number", "title": "sampler.temperature", "section": "gen"
    }
    assert params.get_param("gen__sampler__max_new_tokens").schema["type"] == ["null", "integer"]
    nested = runtime_values(step_params, {"gen__sampler__temperature": 0.1})
    assert nested["gen"]["sampler"] == {"temperature": 0.1, "max_new_tokens": None}
    pipeline.set_runtime_parameters(nested)
    assert pipeline.steps["gen"].sampler.temperature == 0.1


def _llm_pipeline():
    """An OpenAI-compatible step with a trusted endpoint and a vLLM step with engine options."""
    with Pipeline(name="trusted") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "a"}])
        load >> TextGeneration(name="remote", llm=OpenAILLM(model="m", base_url="http://127.0.0.1:9/v1"))
        load >> TextGeneration(
            name="local", llm=vLLM(model="m", extra_kwargs={"max_model_len": 64}), resources=StepResources(gpus=1)
        )
    return pipeline


def test_where_requests_go_and_what_code_loads_are_not_params(compile_options):
    params = _llm_pipeline().to_airflow(dag_id="trusted", **compile_options).params

    assert "remote__llm__base_url" not in params
    assert "local__llm__extra_kwargs" not in params
    assert params["remote__llm__max_concurrency"] == DEFAULT_MAX_CONCURRENCY  # harmless settings stay Params
    assert "remote__llm__generation_kwargs__extra_body" in params  # goes to the DAG file's server only


def test_a_conf_naming_a_trusted_parameter_is_ignored_with_a_warning(caplog):
    pipeline = _llm_pipeline()
    step_params = collect_step_params(pipeline)
    conf = {
        "remote__llm__base_url": "http://attacker.invalid/v1",
        "local__llm__extra_kwargs": {"trust_remote_code": True},
        "remote__llm__generation_kwargs__temperature": 0.3,
    }

    with caplog.at_level("WARNING", logger="airflow_dististage.compiler"):
        nested = runtime_values(step_params, conf)
    pipeline.set_runtime_parameters(nested)

    assert "base_url" not in nested["remote"]["llm"]
    assert "extra_kwargs" not in nested["local"]["llm"]
    assert pipeline.steps["remote"].llm.base_url == "http://127.0.0.1:9/v1"
    assert pipeline.steps["local"].llm.extra_kwargs == {"max_model_len": 64, "tensor_parallel_size": 1}
    assert pipeline.steps["remote"].llm.generation_kwargs["temperature"] == 0.3
    warnings = " ".join(record.getMessage() for record in caplog.records)
    assert "remote__llm__base_url" in warnings and "local__llm__extra_kwargs" in warnings
    assert "attacker.invalid" not in warnings


def test_a_trusted_local_caller_still_sets_them():
    pipeline = _llm_pipeline()
    pipeline.set_runtime_parameters(
        {"remote": {"llm": {"base_url": "http://127.0.0.1:8/v1"}}, "local": {"llm": {"extra_kwargs": {"seed": 1}}}}
    )
    assert pipeline.steps["remote"].llm.base_url == "http://127.0.0.1:8/v1"
    assert pipeline.steps["local"].llm.extra_kwargs["seed"] == 1


def test_user_params_cannot_name_a_trusted_parameter(compile_options):
    with pytest.raises(CompileError, match="remote__llm__base_url.*not be set from a run's conf"):
        _llm_pipeline().to_airflow(dag_id="t", params={"remote__llm__base_url": "http://x/v1"}, **compile_options)


def test_the_flag_is_kept_by_subclasses_that_change_the_default(compile_options):
    class WithSecretPath(Upper):
        key_file: RuntimeParameter[str] = Field(default="/etc/key", run_conf=False)

    class NewDefault(WithSecretPath):
        key_file: RuntimeParameter[str] = "/srv/key"

    with Pipeline(name="flags") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "a"}])
        load >> WithSecretPath(name="base")
        load >> NewDefault(name="child")
    params = pipeline.to_airflow(dag_id="flags", **compile_options).params

    assert "base__key_file" not in params and "child__key_file" not in params
    assert "child__suffix" in params
    assert pipeline.steps["child"].key_file == "/srv/key"


class Counts(Upper):
    """A step with integer-typed runtime parameters, scalar and inside containers."""

    top: RuntimeParameter[int] = 3
    sizes: RuntimeParameter[List[int]] = Field(default_factory=lambda: [1])
    limits: RuntimeParameter[Dict[str, int]] = Field(default_factory=dict)


def _counts_pipeline():
    with Pipeline(name="counts") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "a"}]) >> Counts(name="counts")
    return pipeline


def test_integral_floats_of_integer_params_become_ints(compile_options):
    pipeline = _counts_pipeline()
    run_params = ParamsDict(pipeline.to_airflow(dag_id="ints", **compile_options).params)
    conf = {"counts__top": 10.0, "counts__input_batch_size": 4.0, "counts__sizes": [2.0, 3],
            "counts__limits": {"a": 5.0}, "counts__temperature": 1.0}
    run_params.update(conf)  # accepted when the run is triggered: JSON schema counts 10.0 as an integer

    nested = runtime_values(collect_step_params(pipeline), run_params.dump())
    pipeline.set_runtime_parameters(nested)

    step = pipeline.steps["counts"]
    assert (step.top, step.input_batch_size, step.sizes, step.limits) == (10, 4, [2, 3], {"a": 5})
    assert all(type(value) is int for value in (step.top, step.input_batch_size, *step.sizes, *step.limits.values()))
    assert type(step.temperature) is float  # a number Param keeps its float


@pytest.mark.parametrize(
    ("key", "value"), [("counts__top", 10.5), ("counts__sizes", [2, 2.5]), ("counts__limits", {"a": 0.5})]
)
def test_non_integral_floats_are_refused_when_the_run_is_triggered(compile_options, key, value):
    run_params = ParamsDict(_counts_pipeline().to_airflow(dag_id="floats", **compile_options).params)

    with pytest.raises(ParamValidationError, match=f"param {key}: .* is not of type 'integer'"):
        run_params.update({key: value})
