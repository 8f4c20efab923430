"""pipeline.yaml: distilabel's shape, exact round trips of every step family, no secrets, no foreign classes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from airflow_dististage.llms import OpenAILLM, vLLM
from airflow_dististage.mixins.serialization import SerializationError
from airflow_dististage.pipeline import Pipeline, sample_n_steps
from airflow_dististage.steps import LoadDataFromDicts, LoadDataFromHub
from airflow_dististage.steps.tasks import TextGeneration
from tests.pipeline_api.api_steps import Tag, every_family_pipeline
from tests.runtime.steps_for_tests import Numbers

LOAD_GROUPS = [["load_data_from_file_system_0", "ultra_feedback_0"], ["format_chat_generation_d_p_o_0"]]
RUNTIME_VALUES = {
    "text_generation_0": {"input_batch_size": 2, "llm": {"generation_kwargs": {"max_new_tokens": 8}}},
    "shout": {"suffix": "?!"},
    "tag_0": {"tag": "run-time"},
    "load_data_from_dicts_0": {"batch_size": 1},
}


def _graph(pipeline: Pipeline) -> dict[str, tuple[list[str], list[str]]]:
    """Each step's predecessors and successors, in order (the order of its ``*inputs``)."""
    dag = pipeline.dag
    return {name: (list(dag.predecessors(name)), list(dag.successors(name))) for name in pipeline.steps}


def _assert_same_pipeline(loaded: Pipeline, original: Pipeline) -> None:
    assert loaded.dump() == original.dump()
    assert [(name, type(step)) for name, step in loaded.steps.items()] == [
        (name, type(step)) for name, step in original.steps.items()
    ]
    assert {name: step.fingerprint() for name, step in loaded.steps.items()} == {
        name: step.fingerprint() for name, step in original.steps.items()
    }
    assert _graph(loaded) == _graph(original)
    assert loaded.get_load_stages() == original.get_load_stages()
    assert loaded.get_load_stages(LOAD_GROUPS) == original.get_load_stages(LOAD_GROUPS)
    assert (loaded.name, loaded.description, loaded.requirements) == (
        original.name, original.description, original.requirements
    )


@pytest.fixture(scope="module")
def original() -> Pipeline:
    pipeline = every_family_pipeline()
    pipeline.set_runtime_parameters(RUNTIME_VALUES)
    return pipeline


def test_every_step_family_round_trips_through_yaml_and_json(original: Pipeline, tmp_path: Path) -> None:
    original.save(tmp_path / "pipeline.yaml", format="yaml")
    from_yaml = Pipeline.from_yaml(tmp_path / "pipeline.yaml")
    _assert_same_pipeline(from_yaml, original)
    original.save(tmp_path, format="json")  # a folder: distilabel's default file name inside it
    assert Pipeline.from_json(tmp_path / "distilabel-file.json").dump() == original.dump()
    assert Pipeline.from_dict(yaml.safe_load(original.serialize())).dump() == original.dump()
    assert Pipeline.from_file(f"file://{tmp_path}/pipeline.yaml").dump() == original.dump()
    from_yaml.validate()

    text = from_yaml.steps["text_generation_0"]
    assert text.input_batch_size == 2
    assert text.llm.generation_kwargs == {"temperature": 0.3, "max_new_tokens": 8}
    assert from_yaml.steps["shout"].suffix == "?!"
    assert from_yaml.steps["tag_0"].extra == {"nested": {"depth": [1, 2]}}
    assert from_yaml.steps["load_data_from_dicts_0"].data == [
        {"instruction": "Write a haiku", "system_prompt": "Be brief"}
    ]
    assert from_yaml.steps["ultra_feedback_0"].llm.extra_kwargs == {"max_model_len": 512, "tensor_parallel_size": 1}
    assert from_yaml.steps["tag_0"].resources == original.steps["tag_0"].resources


def test_the_file_has_distilabels_shape(original: Pipeline) -> None:
    data = yaml.safe_load(original.serialize())
    assert list(data) == ["distilabel", "airflow_dististage", "pipeline", "requirements"]
    assert data["distilabel"] == {"version": "1.5.3"}
    assert data["requirements"] == ["datasets>=2"]
    body = data["pipeline"]
    assert list(body) == ["name", "description", "steps", "connections", "routing_batch_functions", "type_info"]
    assert body["routing_batch_functions"] == []
    assert body["type_info"] == {"module": "airflow_dististage.pipeline.base", "name": "Pipeline"}
    text = next(entry for entry in body["steps"] if entry["name"] == "text_generation_0")
    assert list(text) == ["step", "name"]
    attributes = text["step"]
    assert list(attributes)[:6] == [
        "name", "resources", "input_mappings", "output_mappings", "use_cache", "input_batch_size"
    ]
    assert list(attributes)[-2:] == ["runtime_parameters_info", "type_info"]
    assert attributes["resources"] == {"replicas": 1, "cpus": None, "gpus": None, "memory": None}
    assert attributes["type_info"] == {
        "module": "airflow_dististage.steps.tasks.text_generation", "name": "TextGeneration"
    }
    assert attributes["llm"]["type_info"] == {"module": "airflow_dististage.llms.openai", "name": "OpenAILLM"}
    info = {entry["name"]: entry for entry in attributes["runtime_parameters_info"]}
    assert info["input_batch_size"] == {
        "name": "input_batch_size",
        "optional": True,
        "description": "The number of rows each batch given to `process` holds.",
    }
    llm_info = {entry["name"]: entry for entry in info["llm"]["runtime_parameters_info"]}
    assert "temperature" in {key["name"] for key in llm_info["generation_kwargs"]["keys"]}
    assert {"from": "text_generation_0", "to": ["shout", "name_topic_0"]} in body["connections"]
    assert len(body["connections"]) == len(body["steps"])  # one entry per step, as distilabel writes


def test_secrets_are_never_written(tmp_path: Path) -> None:
    with Pipeline(name="secrets") as pipeline:
        hub = LoadDataFromHub(
            repo_id="org/data",
            storage_options={"key": "AKIA-ID-1", "secret": "s3-secret-2", "token": "tok-3", "client_kwargs": {
                "endpoint_url": "http://127.0.0.1:9", "aws_secret_access_key": "s3-secret-4"
            }},
        )
        hub >> TextGeneration(llm=OpenAILLM(model="m", api_key="sk-secret-5", generation_kwargs={"temperature": 1.0}))
        hub >> TextGeneration(llm=vLLM(model="/m", extra_kwargs={"hf_token": "hf-secret-6", "max_model_len": 64}))
    secrets = ["AKIA-ID-1", "s3-secret-2", "tok-3", "s3-secret-4", "sk-secret-5", "hf-secret-6"]
    for fmt in ("yaml", "json"):
        pipeline.save(tmp_path / f"p.{fmt}", format=fmt)
        written = (tmp_path / f"p.{fmt}").read_text()
        assert not [secret for secret in secrets if secret in written], fmt
        assert "api_key" not in written and "hf_token" not in written
    loaded = Pipeline.from_yaml(tmp_path / "p.yaml")
    assert loaded.steps["load_data_from_hub_0"].storage_options == {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}
    }
    assert loaded.steps["text_generation_0"].llm.api_key is None  # read from the environment or a connection
    assert loaded.steps["text_generation_1"].llm.extra_kwargs == {"max_model_len": 64, "tensor_parallel_size": 1}


def test_rows_are_data_and_keep_columns_named_like_credentials() -> None:
    with Pipeline(name="rows") as pipeline:
        LoadDataFromDicts(data=[{"token": "a word", "key": 1}])
    assert Pipeline.from_dict(pipeline.dump()).steps["load_data_from_dicts_0"].data == [{"token": "a word", "key": 1}]


def _with_step_type(data: dict, step: str, type_info: dict, key: str | None = None) -> dict:
    entry = next(entry for entry in data["pipeline"]["steps"] if entry["name"] == step)
    (entry["step"][key] if key else entry["step"])["type_info"] = type_info
    return data


_NOT_A_STEP = r"which is not a subclass of airflow_dististage\.steps\.base\._Step"
_FOREIGN_TYPES = [
    ("tag_0", None, {"module": "os", "name": "system"}, r"Step 'tag_0': type_info names os\.system, " + _NOT_A_STEP),
    ("tag_0", None, {"module": "collections", "name": "OrderedDict"}, r"collections\.OrderedDict, " + _NOT_A_STEP),
    ("tag_0", None, {"module": "airflow_dististage.llms.openai", "name": "OpenAILLM"}, r"OpenAILLM, " + _NOT_A_STEP),
    (
        "text_generation_0", "llm", {"module": "tests.pipeline_api.api_steps", "name": "Tag"},
        r"Step 'text_generation_0'\.llm: type_info names tests\.pipeline_api\.api_steps\.Tag,"
        r" which is not a subclass of airflow_dististage\.llms\.base\.LLM",
    ),
    ("tag_0", None, {"module": "no_such_module_anywhere", "name": "S"}, r"'no_such_module_anywhere', which cannot be"),
    ("tag_0", None, {"module": "tests.pipeline_api.api_steps", "name": "Gone"}, r"api_steps\.Gone, which does not exist"),
    ("tag_0", None, {"module": "os; rm", "name": "x"}, r"type_info must be \{module: <dotted name>, name: <class"),
]


@pytest.mark.parametrize(("step", "key", "type_info", "message"), _FOREIGN_TYPES)
def test_a_file_naming_anything_but_a_step_or_llm_class_is_refused(
    original: Pipeline, step: str, key: str | None, type_info: dict, message: str
) -> None:
    data = _with_step_type(original.dump(), step, type_info, key)
    with pytest.raises(SerializationError, match=message):
        Pipeline.from_dict(data)


def test_a_type_info_where_the_class_declares_no_step_or_llm_is_refused(original: Pipeline) -> None:
    data = original.dump()
    entry = next(entry for entry in data["pipeline"]["steps"] if entry["name"] == "tag_0")
    entry["step"]["extra"] = {"type_info": {"module": "airflow_dististage.llms.openai", "name": "OpenAILLM"}}
    with pytest.raises(SerializationError, match=r"Step 'tag_0'\.extra carries a type_info, but the attribute is not"):
        Pipeline.from_dict(data)


def test_yaml_tags_that_build_python_objects_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "evil.yaml").write_text(f"pipeline: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(yaml.YAMLError):
        Pipeline.from_yaml(tmp_path / "evil.yaml")
    assert not marker.exists()


def test_bad_files_are_clear_errors(original: Pipeline, tmp_path: Path) -> None:
    with pytest.raises(SerializationError, match="Not a pipeline file"):
        Pipeline.from_dict({"steps": []})
    data = original.dump()
    data["pipeline"]["connections"].append({"from": "tag_0", "to": ["ghost"]})
    with pytest.raises(SerializationError, match="A connection names step 'ghost'"):
        Pipeline.from_dict(data)
    data = original.dump()
    data["pipeline"]["steps"][0]["step"]["batch_size"] = 0
    with pytest.raises(SerializationError, match=r"Step 'load_data_from_dicts_0': LoadDataFromDicts cannot be built"):
        Pipeline.from_dict(data)
    data = original.dump()
    data["pipeline"]["routing_batch_functions"] = [{"step": "ghost"}]
    with pytest.raises(SerializationError, match="A routing batch function names step 'ghost'"):
        Pipeline.from_dict(data)
    with pytest.raises(ValueError, match="is a folder"):
        Pipeline.from_yaml(tmp_path)
    with pytest.raises(ValueError, match="Invalid format 'toml'"):
        original.save(tmp_path / "p.toml", format="toml")


def _routed_pipeline() -> Pipeline:
    with Pipeline(name="routed") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": f"q{i}"} for i in range(4)], batch_size=2)
        load >> sample_n_steps(2) >> [Tag(name=f"branch_{i}") for i in range(3)]
    return pipeline


def test_routers_made_by_sample_n_steps_round_trip(tmp_path: Path) -> None:
    original = _routed_pipeline()
    original.save(tmp_path / "routed.yaml")
    loaded = Pipeline.from_yaml(tmp_path / "routed.yaml")
    (entry,) = original.dump()["pipeline"]["routing_batch_functions"]
    assert entry["step"] == "load_data_from_dicts_0"
    assert entry["type_info"]["name"] == "sample_n_steps" and entry["type_info"]["kwargs"] == {"n": 2}
    assert [router.dump() for router in loaded.routing_batch_functions.values()] == [entry]
    assert _graph(loaded) == _graph(original)
    assert loaded.get_load_stages() == original.get_load_stages()


def test_a_router_a_file_names_outside_this_package_is_never_called(tmp_path: Path) -> None:
    data = _routed_pipeline().dump()
    marker = tmp_path / "called"
    data["pipeline"]["routing_batch_functions"][0]["type_info"] = {
        "module": "os", "name": "mkdir", "kwargs": {"path": str(marker)}
    }
    with pytest.raises(SerializationError, match=r"Step 'load_data_from_dicts_0': its routing batch function comes from 'os'"):
        Pipeline.from_dict(data)
    assert not marker.exists()


def test_predecessor_orders_no_entry_order_can_keep_come_back_from_edge_entries() -> None:
    with Pipeline(name="crossed") as pipeline:
        first, second = Numbers(name="first"), Numbers(name="second")
        takes_first_then_second, takes_second_then_first = Tag(name="one"), Tag(name="two")
        first >> takes_first_then_second
        second >> takes_second_then_first
        second >> takes_first_then_second
        first >> takes_second_then_first
    connections = pipeline.dump()["pipeline"]["connections"]
    assert connections == [
        {"from": "first", "to": ["one"]}, {"from": "second", "to": ["two"]}, {"from": "first", "to": ["two"]},
        {"from": "second", "to": ["one"]}, {"from": "one", "to": []}, {"from": "two", "to": []},
    ]
    assert _graph(Pipeline.from_dict(pipeline.dump())) == _graph(pipeline)


def test_unknown_attributes_are_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with Pipeline(name="extra") as pipeline:
        Numbers(name="gen") >> Tag(name="tag")
    data = pipeline.dump()
    data["pipeline"]["steps"][1]["step"]["from_a_newer_writer"] = 1
    data["pipeline"]["steps"][1]["step"]["resources"]["resources"] = {"tpu": 1}
    loaded = Pipeline.from_dict(json.loads(json.dumps(data)))
    assert loaded.dump() == pipeline.dump()
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert "Step 'tag': ignoring ['from_a_newer_writer'], which Tag does not declare." in warnings
    assert "Step 'tag'.resources: ignoring ['resources'], which StepResources does not declare." in warnings


def test_a_value_no_file_can_hold_is_a_clear_error() -> None:
    with Pipeline(name="objects") as pipeline:
        Numbers(name="gen") >> Tag(name="tag", extra={"when": object()})
    with pytest.raises(SerializationError, match=r"Step 'tag'\.extra\['when'\] holds a object"):
        pipeline.dump()
    pipeline.steps["tag"].extra = {"when": [object()]}  # lists are data, checked when written
    for fmt, message in (("yaml", "a YAML file cannot hold: cannot represent"), ("json", "a JSON file cannot hold")):
        with pytest.raises(SerializationError, match=message):
            pipeline.serialize(fmt)


def test_requirements_are_checked_when_the_pipeline_is_built() -> None:
    with pytest.raises(ValueError, match="Pipeline requirement 'not a requirement!!' is not a valid requirement"):
        Pipeline(requirements=["not a requirement!!"])
    assert Pipeline(requirements=["networkx>=1", "surely-not-installed-dististage>=1"]).requirements_to_install() == [
        "surely-not-installed-dististage>=1"
    ]
