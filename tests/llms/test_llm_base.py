"""The LLM base: runtime parameters from generate(), import hygiene, secrets and GPU agreement."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from airflow_dististage.llms import LLM, OpenAILLM, Secret, TransformersLLM, vLLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import StepResources
from airflow_dististage.steps.tasks import TextGeneration


def test_generation_kwargs_children_are_the_parameters_of_generate() -> None:
    llm = TransformersLLM(model="some/model", generation_kwargs={"temperature": 0.7})
    children = llm.runtime_parameters()["generation_kwargs"].children
    assert list(children) == [
        "max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "do_sample", "seed"
    ]
    assert (children["max_new_tokens"].value_type, children["max_new_tokens"].default) == (int, 128)
    assert children["temperature"].value_type is float
    assert children["temperature"].default == 0.7  # the configured value, not generate()'s default
    assert children["do_sample"].value_type is bool
    assert children["max_new_tokens"].description == "most tokens generated per generation."


def test_task_exposes_llm_generation_kwargs_as_dotted_runtime_parameters() -> None:
    with Pipeline(name="params"):
        task = TextGeneration(llm=OpenAILLM(model="m", base_url="http://127.0.0.1:9/v1"))
    flat = {}
    for info in task.runtime_parameters().values():
        flat.update(info.flat())
    assert "llm.generation_kwargs.temperature" in flat
    assert "llm.generation_kwargs.stop" in flat
    assert "llm.max_concurrency" in flat and "num_generations" in flat
    assert not any("api_key" in path for path in flat), "a secret must never become an Airflow Param"

    task.set_runtime_parameters({"llm": {"generation_kwargs": {"temperature": 0.2}}})
    task.set_runtime_parameters({"llm": {"generation_kwargs": {"max_new_tokens": 5}}})
    assert task.llm.generation_kwargs == {"temperature": 0.2, "max_new_tokens": 5}
    with pytest.raises(ValueError, match="temprature.*Did you mean 'temperature'"):
        task.set_runtime_parameters({"llm": {"generation_kwargs": {"temprature": 0.2}}})


def test_unknown_generation_kwarg_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="'max_tokens'.*Did you mean 'max_new_tokens'"):
        vLLM(model="m", generation_kwargs={"max_tokens": 10})


def test_building_llm_pipelines_imports_no_heavy_library() -> None:
    script = textwrap.dedent(
        """
        import sys
        from airflow_dististage.models import OpenAILLM, TransformersLLM, vLLM
        from airflow_dististage.pipeline import Pipeline
        from airflow_dististage.steps import StepResources
        from airflow_dististage.steps.tasks import ChatGeneration, TextGeneration

        with Pipeline(name="imports") as pipeline:
            text_generation_0 = TextGeneration(
                llm=vLLM(model="HuggingFaceTB/SmolLM2-1.7B-Instruct", extra_kwargs={"max_model_len": 1024}),
                resources=StepResources(gpus=1),
            )
            text_generation_1 = TextGeneration(
                llm=vLLM(model="HuggingFaceTB/SmolLM2-1.7B-Instruct", extra_kwargs={"max_model_len": 1024}),
                resources=StepResources(gpus=1),
            )
        with Pipeline(name="others"):
            ChatGeneration(llm=OpenAILLM(model="gpt"))
            TextGeneration(llm=TransformersLLM(model="tiny"))
        load_stages = pipeline.get_load_stages(load_groups=[[text_generation_1.name]])
        for i, steps_stage in enumerate(load_stages[0]):
            print(f"Stage {i}: {steps_stage}")
        heavy = {"torch", "transformers", "vllm", "openai", "datasets", "pandas", "airflow"}
        print(sorted(heavy & set(sys.modules)))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Stage 0: ['text_generation_0']",
        "Stage 1: ['text_generation_1']",
        "[]",
    ]


def test_seed_second_example_prints_its_two_stages_without_vllm() -> None:
    with Pipeline(name="seed-two") as pipeline:
        text_generation_0 = TextGeneration(
            llm=vLLM(model="HuggingFaceTB/SmolLM2-1.7B-Instruct", extra_kwargs={"max_model_len": 1024}),
            resources=StepResources(gpus=1),
        )
        text_generation_1 = TextGeneration(
            llm=vLLM(model="HuggingFaceTB/SmolLM2-1.7B-Instruct", extra_kwargs={"max_model_len": 1024}),
            resources=StepResources(gpus=1),
        )
    stages, _ = pipeline.get_load_stages(load_groups=[[text_generation_1.name]])
    assert [f"Stage {i}: {s}" for i, s in enumerate(stages)] == [
        "Stage 0: ['text_generation_0']",
        "Stage 1: ['text_generation_1']",
    ]
    assert text_generation_0.resources.gpus == 1


@pytest.mark.parametrize(
    ("gpus", "extra", "expected_gpus", "expected_tp"),
    [
        (None, {}, 1, 1),
        (2, {}, 2, 2),
        (None, {"tensor_parallel_size": 4}, 4, 4),
        (4, {"tensor_parallel_size": 2, "pipeline_parallel_size": 2}, 4, 2),
        (4, {"pipeline_parallel_size": 2}, 4, 2),
    ],
)
def test_vllm_tensor_parallel_and_step_gpus_follow_each_other(gpus, extra, expected_gpus, expected_tp) -> None:
    with Pipeline(name="tp"):
        task = TextGeneration(llm=vLLM(model="m", extra_kwargs=extra), resources=StepResources(gpus=gpus))
    assert task.resources.gpus == expected_gpus
    assert task.llm.extra_kwargs["tensor_parallel_size"] == expected_tp


@pytest.mark.parametrize(
    ("gpus", "extra", "message"),
    [
        (1, {"tensor_parallel_size": 2}, "tensor_parallel_size=2 x pipeline_parallel_size=1 needs 2 GPU"),
        (0, {}, "needs a GPU"),
        (3, {"pipeline_parallel_size": 2}, "not a multiple"),
        (None, {"tensor_parallel_size": "2"}, "must be an integer"),
    ],
)
def test_vllm_gpu_mismatch_is_a_build_time_error_naming_the_step(gpus, extra, message) -> None:
    with Pipeline(name="tp-bad"), pytest.raises(ValueError, match=message) as error:
        TextGeneration(name="judge", llm=vLLM(model="m", extra_kwargs=extra), resources=StepResources(gpus=gpus))
    assert "'judge'" in str(error.value)


def test_runtime_change_of_tensor_parallel_size_is_caught_before_loading() -> None:
    with Pipeline(name="tp-runtime"):
        task = TextGeneration(llm=vLLM(model="m"), resources=StepResources(gpus=1))
    with pytest.raises(ValueError, match="text_generation_0.*resources.gpus=1"):
        task.set_runtime_parameters({"llm": {"extra_kwargs": {"tensor_parallel_size": 2}}})


def test_task_requires_an_llm_and_valid_num_generations() -> None:
    with Pipeline(name="bad"), pytest.raises(TypeError, match="llm must be an LLM"):
        TextGeneration(llm="gpt-4")
    with Pipeline(name="bad2"), pytest.raises(ValueError, match="num_generations"):
        TextGeneration(llm=TransformersLLM(model="m"), num_generations=0)


def test_secret_is_masked_everywhere_but_reveal() -> None:
    llm = OpenAILLM(model="m", api_key="sk-very-secret")
    assert isinstance(llm.api_key, Secret)
    assert llm.api_key.reveal() == "sk-very-secret"
    with Pipeline(name="secret"):
        task = TextGeneration(llm=llm)
    from airflow_dististage.steps.base import canonical

    for text in (repr(llm), str(llm.api_key), repr(llm.api_key), str(canonical(task)), repr(vars(llm))):
        assert "sk-very-secret" not in text
    assert task.fingerprint() != TextGeneration(
        name="other", pipeline=task.pipeline, llm=OpenAILLM(model="m2", api_key="sk-very-secret")
    ).fingerprint()


def test_llm_base_generate_is_abstract() -> None:
    with pytest.raises(NotImplementedError):
        LLM().generate([[{"role": "user", "content": "hi"}]])


class _SuffixLLM(LLM):
    """A user-defined LLM: its generate() signature defines its generation_kwargs."""

    def generate(self, inputs, num_generations: int = 1, suffix: str = "!", *, repeat: int):
        """Echoes.

        Args:
            suffix: appended to the answer.
            repeat: how many times the answer is said.
        """
        return [{"generations": [chat[-1]["content"] * repeat + suffix] * num_generations} for chat in inputs]


class _AnyKeywordLLM(LLM):
    def generate(self, inputs, num_generations: int = 1, **kwargs):
        return [{"generations": [str(kwargs)] * num_generations} for _ in inputs]


def test_a_custom_llms_generate_signature_defines_its_runtime_parameters() -> None:
    children = _SuffixLLM(generation_kwargs={"repeat": 2}).runtime_parameters()["generation_kwargs"].children
    assert (children["suffix"].value_type, children["suffix"].default, children["suffix"].optional) == (str, "!", True)
    assert (children["repeat"].default, children["repeat"].optional) == (2, True)
    assert children["repeat"].description == "how many times the answer is said."
    unset = _SuffixLLM().runtime_parameters()["generation_kwargs"].children["repeat"]
    assert (unset.default, unset.optional) == (None, False)
    with pytest.raises(ValueError, match="'repeats'"):
        _SuffixLLM(generation_kwargs={"repeats": 2})
    assert _AnyKeywordLLM(generation_kwargs={"anything": 1}).generation_kwargs == {"anything": 1}
