"""Runtime parameters as Airflow Params: types, defaults, sections, validation, and the way back."""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

import pytest
from airflow.sdk.definitions.param import ParamsDict
from airflow.sdk.exceptions import ParamValidationError

from airflow_dististage.compiler.params import collect_step_params, json_type, runtime_values


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
    from airflow_dististage.mixins.runtime_parameters import Declarative, RuntimeParameter
    from airflow_dististage.pipeline import Pipeline
    from airflow_dististage.steps import LoadDataFromDicts
    from tests.compiler.conftest import Upper

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
