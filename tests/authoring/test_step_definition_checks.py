"""Step construction and definition checks: failed constructors, @step parameters, mappings, replicas, names."""

from __future__ import annotations

import pytest

from airflow_dististage.llms import TransformersLLM, vLLM
from airflow_dististage.mixins.runtime_parameters import RuntimeParameter
from airflow_dististage.pipeline import Pipeline, PipelineValidationError
from airflow_dististage.steps import GlobalStep, LoadDataFromDicts, Step, StepInput, StepResources, step
from airflow_dististage.steps.tasks import TextGeneration
from airflow_dististage.typing import StepOutput


@step(inputs=["instruction"], outputs=["response"])
def DummyStep(inputs: StepInput, dummy_generation: RuntimeParameter[str], count: RuntimeParameter[int] = 2):
    yield [{**row, "response": dummy_generation * count} for row in inputs]


def test_failed_constructors_leave_nothing_in_the_pipeline() -> None:
    with Pipeline(name="half-built") as pipeline:
        loader = LoadDataFromDicts(data=[{"instruction": "hi"}])
        with pytest.raises(ValueError, match="template"):
            TextGeneration(llm=TransformersLLM(model="m"), template="{{ nope }}")
        with pytest.raises(ValueError, match="needs 2 GPU"):
            TextGeneration(llm=vLLM(model="m", extra_kwargs={"tensor_parallel_size": 2}), resources=StepResources(gpus=1))
        generation = TextGeneration(llm=TransformersLLM(model="m"))
        loader >> generation
    assert list(pipeline.steps) == ["load_data_from_dicts_0", "text_generation_0"]
    pipeline.validate()


def test_step_decorator_defaults_a_missing_runtime_parameter_to_none_and_keeps_its_type() -> None:
    with Pipeline(name="decorated") as pipeline:
        loader = LoadDataFromDicts(data=[{"instruction": "hi"}])
        dummy = DummyStep()
        loader >> dummy
    assert dummy.dummy_generation is None
    parameters = dummy.runtime_parameters()
    assert parameters["dummy_generation"].value_type is str
    assert parameters["count"].value_type is int and parameters["count"].default == 2
    pipeline.set_runtime_parameters({"dummy_step_0": {"dummy_generation": "ab"}})
    (rows,) = list(dummy.process([{"instruction": "hi"}]))
    assert rows == [{"instruction": "hi", "response": "abab"}]


def test_step_decorator_takes_an_already_wrapped_annotation() -> None:
    @step(inputs=["x"], outputs=["x"])
    def Scale(inputs: StepInput, factor: RuntimeParameter[int] = 3) -> StepOutput:
        yield inputs

    assert Scale().runtime_parameters()["factor"].value_type is int


@pytest.mark.parametrize(
    ("mappings", "message"),
    [
        ({"input_mappings": {"instrucion": "prompt"}}, "input_mappings has key 'instrucion'.*'instruction'"),
        ({"output_mappings": {"responce": "answer"}}, "output_mappings has key 'responce'.*'response'"),
    ],
)
def test_mapping_keys_must_be_declared_columns(mappings: dict, message: str) -> None:
    with Pipeline(name="typo") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "hi", "prompt": "p"}]) >> DummyStep(**mappings)
    with pytest.raises(PipelineValidationError, match=f"Step 'dummy_step_0': {message}"):
        pipeline.validate()


class NoBatch(Step):
    def process(self) -> StepOutput:  # type: ignore[override]
        yield []


def test_a_process_that_takes_no_batch_is_rejected() -> None:
    with Pipeline(name="no-batch") as pipeline:
        LoadDataFromDicts(data=[{"x": 1}]) >> NoBatch()
    with pytest.raises(PipelineValidationError, match="Step 'no_batch_0': its process\\(\\) takes no batch"):
        pipeline.validate()


class Everything(GlobalStep):
    def process(self, inputs: StepInput) -> StepOutput:
        yield inputs


@pytest.mark.parametrize("kind", ["generator", "global"])
def test_replicas_are_rejected_on_generator_and_global_steps(kind: str) -> None:
    many = StepResources(replicas=2)
    with Pipeline(name="replicas") as pipeline:
        loader = LoadDataFromDicts(data=[{"x": 1}], resources=many if kind == "generator" else StepResources())
        loader >> Everything(resources=many if kind == "global" else StepResources())
    culprit = "load_data_from_dicts_0" if kind == "generator" else "everything_0"
    with pytest.raises(PipelineValidationError, match=f"Step '{culprit}' is a {kind} step.*replicas=2"):
        pipeline.validate()


def test_replicas_are_fine_on_normal_steps() -> None:
    with Pipeline(name="replicas-ok") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "hi"}]) >> DummyStep(resources=StepResources(replicas=3))
    pipeline.validate()


def test_get_load_stages_checks_graph_and_groups_but_never_columns() -> None:
    for with_generator in (True, False):
        with Pipeline(name="no-columns-check") as pipeline:
            first = LoadDataFromDicts(data=[{"other": 1}]) if with_generator else DummyStep()
            first >> DummyStep(name="reader")
        assert pipeline.get_load_stages()[0] == [[first.name, "reader"]]
        with pytest.raises(PipelineValidationError):
            pipeline.plan()


def test_distilabel_names_are_importable() -> None:
    from airflow_dististage.steps import GeneratorStepOutput, StepOutput
    from airflow_dististage.steps.typing import GeneratorStepOutput as OldGeneratorStepOutput
    from airflow_dististage.steps.typing import StepColumns, StepOutput as OldStepOutput
    from airflow_dististage.typing import ChatType, GenerateOutput, LLMStatistics

    assert OldStepOutput is StepOutput and OldGeneratorStepOutput is GeneratorStepOutput
    assert StepColumns is not None and ChatType is not None
    assert set(GenerateOutput.__annotations__) == {"generations", "statistics", "error"}
    assert set(LLMStatistics.__annotations__) == {"input_tokens", "output_tokens"}
