"""The distilabel-compatible authoring API: names, connections, validation errors."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_dististage import Pipeline as TopLevelPipeline
from airflow_dististage.mixins.runtime_parameters import Field, RuntimeParameter
from airflow_dististage.pipeline import Pipeline, PipelineValidationError
from airflow_dististage.steps import (
    GeneratorStep,
    GlobalStep,
    LoadDataFromDicts,
    Step,
    StepInput,
    StepResources,
    step,
)
from airflow_dististage.typing import GeneratorStepOutput, StepOutput


@step(inputs=["instruction"], outputs=["response"])
def DummyStep(inputs: StepInput) -> StepOutput:
    yield inputs


@step(inputs=["instruction"], step_type="global")
def GlobalDummyStep(inputs: StepInput) -> StepOutput:
    yield inputs


@step(inputs=["instruction"], outputs=["response"])
def Merge(*inputs: StepInput) -> StepOutput:
    yield inputs[0]


class Upper(Step):
    prefix: str = ""
    temperature: RuntimeParameter[float] = Field(default=0.5, description="How hot.")

    @property
    def inputs(self) -> list[str]:
        return ["instruction"]

    @property
    def outputs(self) -> list[str]:
        return ["upper"]

    def process(self, inputs: StepInput) -> StepOutput:
        yield [{**row, "upper": self.prefix + row["instruction"].upper()} for row in inputs]


class Numbers(GeneratorStep):
    @property
    def outputs(self) -> list[str]:
        return ["n"]

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        yield [{"n": i} for i in range(offset, 3)], True


def loader(**kwargs: Any) -> LoadDataFromDicts:
    return LoadDataFromDicts(data=[{"instruction": "Hi"}], **kwargs)


def test_top_level_and_module_paths_are_the_same_objects() -> None:
    assert TopLevelPipeline is Pipeline


def test_default_names_snake_case_with_first_free_index() -> None:
    with Pipeline(name="names") as pipeline:
        load = loader()
        explicit = DummyStep(name="dummy_step_0")
        first_default = DummyStep()
        other = GlobalDummyStep()
    assert load.name == "load_data_from_dicts_0"
    assert explicit.name == "dummy_step_0"
    assert first_default.name == "dummy_step_1"
    assert other.name == "global_dummy_step_0"
    assert list(pipeline.steps) == ["load_data_from_dicts_0", "dummy_step_0", "dummy_step_1", "global_dummy_step_0"]


@pytest.mark.parametrize("bad", ["has space", "dots.are.bad", "../escape", ""])
def test_invalid_step_name_is_rejected_naming_it(bad: str) -> None:
    with Pipeline(name="bad-names"):
        with pytest.raises(ValueError, match="Invalid step name"):
            DummyStep(name=bad)


def test_duplicate_step_name_is_rejected() -> None:
    with Pipeline(name="dups"):
        DummyStep(name="same")
        with pytest.raises(PipelineValidationError, match="'same'"):
            DummyStep(name="same")


def test_rshift_forms_connect_in_order() -> None:
    with Pipeline(name="shapes") as pipeline:
        load = loader()
        a, b, c = DummyStep(), DummyStep(), Merge()
        assert (load >> [a, b]) == [a, b]
        assert ([a, b] >> c) is c
    assert list(pipeline.dag.edges) == [
        ("load_data_from_dicts_0", "dummy_step_0"),
        ("load_data_from_dicts_0", "dummy_step_1"),
        ("dummy_step_0", "merge_0"),
        ("dummy_step_1", "merge_0"),
    ]
    pipeline.validate()


def test_connect_method() -> None:
    with Pipeline(name="connect") as pipeline:
        load = loader()
        a, b = DummyStep(), DummyStep()
        load.connect(a, b)
    assert list(pipeline.dag.successors(load.name)) == [a.name, b.name]


def test_cycle_is_rejected_naming_the_steps() -> None:
    with Pipeline(name="cycle"):
        load = loader()
        a, b = DummyStep(), DummyStep()
        load >> a >> b
        with pytest.raises(PipelineValidationError, match="'dummy_step_1' >> 'dummy_step_0' would create a cycle"):
            b >> a


def test_duplicate_edge_is_rejected() -> None:
    with Pipeline(name="edge"):
        load, a = loader(), DummyStep()
        load >> a
        with pytest.raises(PipelineValidationError, match="'load_data_from_dicts_0' and 'dummy_step_0' are already"):
            load >> a


def test_generator_with_predecessor_is_rejected() -> None:
    with Pipeline(name="gen"):
        first, second = loader(), loader()
        with pytest.raises(PipelineValidationError, match="Generator step 'load_data_from_dicts_1'"):
            first >> second


def test_normal_step_without_predecessor_is_rejected() -> None:
    with Pipeline(name="orphan") as pipeline:
        loader() >> DummyStep()
        DummyStep(name="orphan_step")
    with pytest.raises(PipelineValidationError, match="Step 'orphan_step' has no predecessor"):
        pipeline.validate()


def test_global_step_without_predecessor_is_rejected() -> None:
    with Pipeline(name="orphan-global") as pipeline:
        loader() >> DummyStep()
        GlobalDummyStep()
    with pytest.raises(PipelineValidationError, match="'global_dummy_step_0' has no predecessor"):
        pipeline.validate()


def test_missing_input_column_names_step_and_column() -> None:
    with Pipeline(name="columns") as pipeline:
        LoadDataFromDicts(data=[{"prompt": "Hi"}]) >> DummyStep()
    with pytest.raises(PipelineValidationError, match="Step 'dummy_step_0' needs column 'instruction'"):
        pipeline.validate()


def test_input_mappings_make_a_column_available() -> None:
    with Pipeline(name="mapped") as pipeline:
        LoadDataFromDicts(data=[{"prompt": "Hi"}]) >> DummyStep(input_mappings={"instruction": "prompt"})
    pipeline.validate()


def test_output_mappings_rename_what_successors_see() -> None:
    with Pipeline(name="out-mapped") as pipeline:
        load = loader()
        upper = Upper(output_mappings={"upper": "shout"})
        reader = DummyStep(input_mappings={"instruction": "shout"})
        load >> upper >> reader
    pipeline.validate()
    assert upper.get_outputs() == {"shout": True}
    renamed = upper.rename_outputs(next(upper.process(upper.rename_inputs([{"instruction": "a"}]))))
    assert renamed == [{"instruction": "a", "shout": "A"}]


def test_several_predecessors_need_var_positional_inputs() -> None:
    with Pipeline(name="fan-in") as pipeline:
        load = loader()
        a, b, c = DummyStep(), DummyStep(), DummyStep()
        load >> [a, b] >> c
    with pytest.raises(PipelineValidationError, match="Step 'dummy_step_2' receives batches from"):
        pipeline.validate()


def test_runtime_parameters_set_and_unknown_suggested() -> None:
    with Pipeline(name="params") as pipeline:
        loader() >> Upper()
    pipeline.set_runtime_parameters({"upper_0": {"temperature": 0.9, "input_batch_size": 7}})
    upper = pipeline.steps["upper_0"]
    assert (upper.temperature, upper.input_batch_size) == (0.9, 7)
    with pytest.raises(ValueError, match="no runtime parameter 'temprature'. Did you mean 'temperature'"):
        pipeline.set_runtime_parameters({"upper_0": {"temprature": 1.0}})
    with pytest.raises(ValueError, match="'upper_1'.*Did you mean 'upper_0'"):
        pipeline.set_runtime_parameters({"upper_1": {"temperature": 1.0}})
    with pytest.raises(ValueError, match="no runtime parameter 'prefix'"):
        pipeline.set_runtime_parameters({"upper_0": {"prefix": "x"}})


def test_runtime_parameter_info_carries_type_default_and_description() -> None:
    with Pipeline(name="info"):
        upper = Upper()
    info = upper.runtime_parameters()
    assert set(info) == {"input_batch_size", "temperature"}
    assert (info["temperature"].value_type, info["temperature"].default) == (float, 0.5)
    assert info["temperature"].description == "How hot."
    assert info["input_batch_size"].value_type is int


def test_step_decorator_extra_keyword_parameters_become_runtime_parameters() -> None:
    @step(inputs=["instruction"], outputs=["response"])
    def Repeat(inputs: StepInput, times: int = 2) -> StepOutput:
        yield [{**row, "response": row["instruction"] * times} for row in inputs]

    with Pipeline(name="decorated") as pipeline:
        loader() >> Repeat()
    repeat = pipeline.steps["repeat_0"]
    assert repeat.runtime_parameters()["times"].default == 2
    pipeline.set_runtime_parameters({"repeat_0": {"times": 3}})
    assert next(repeat.process([{"instruction": "ab"}])) == [{"instruction": "ab", "response": "ababab"}]


def test_step_decorator_needs_step_input_parameter() -> None:
    with pytest.raises(TypeError, match="needs a parameter annotated `StepInput`"):

        @step(inputs=["a"])
        def NoInputs(rows: list) -> StepOutput:
            yield rows


def test_unknown_constructor_argument_is_suggested() -> None:
    with Pipeline(name="ctor"):
        with pytest.raises(TypeError, match="unexpected argument 'prefx'.*'prefix'"):
            Upper(prefx="x")


def test_resources_are_validated() -> None:
    with pytest.raises(ValueError, match="replicas"):
        StepResources(replicas=0)
    with pytest.raises(ValueError, match="gpus"):
        StepResources(gpus=-1)


def test_load_data_from_dicts_batches() -> None:
    with Pipeline(name="load"):
        load = LoadDataFromDicts(data=[{"i": i} for i in range(5)], batch_size=2)
    batches = list(load.process())
    assert [len(rows) for rows, _ in batches] == [2, 2, 1]
    assert [last for _, last in batches] == [False, False, True]
    assert list(load.process(offset=4)) == [([{"i": 4}], True)]


def test_fingerprint_changes_with_configuration_only() -> None:
    with Pipeline(name="fp1"):
        a = Upper(prefix="x")
    with Pipeline(name="fp2"):
        same = Upper(prefix="x")
        other = Upper(prefix="y")
    assert a.fingerprint() == same.fingerprint()
    assert a.fingerprint() != other.fingerprint()


def test_global_and_generator_kinds() -> None:
    with Pipeline(name="kinds"):
        load, dummy, glob = loader(), DummyStep(), GlobalDummyStep()
    assert (load.is_generator, dummy.is_normal, glob.is_global) == (True, True, True)
    assert isinstance(glob, GlobalStep)
    assert Numbers(name="n").name == "n"


def test_decorated_runtime_parameter_types_resolve_under_postponed_annotations() -> None:
    # this module uses `from __future__ import annotations`, so the hint below is the string "float"
    @step(inputs=["instruction"], outputs=["response"])
    def Scale(inputs: StepInput, factor: float = 1.5) -> StepOutput:
        yield inputs

    with Pipeline(name="postponed"):
        scale = Scale()
    assert scale.runtime_parameters()["factor"].value_type is float
