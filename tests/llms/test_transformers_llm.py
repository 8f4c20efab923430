"""TransformersLLM on the tiny model, for real: batching, statistics, seeds, load/unload."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_dististage.llms import TransformersLLM
from tests.llms.tiny_model import CHAT_TEMPLATE

CHATS = [
    [{"role": "user", "content": "write a poem"}],
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is the capital of france?"}],
    [{"role": "user", "content": "one two three four five six seven eight nine ten"}],
]


@pytest.fixture(scope="module")
def loaded_llm(tiny_model_dir: Path):
    llm = TransformersLLM(model=str(tiny_model_dir), device="cpu")
    llm.load()
    yield llm
    llm.unload()


def _prompt_length(llm: TransformersLLM, chat: list[dict[str, str]]) -> int:
    text = llm._tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    return len(llm._tokenizer(text, add_special_tokens=False)["input_ids"])


def test_generate_batches_chats_of_different_lengths(loaded_llm: TransformersLLM) -> None:
    outputs = loaded_llm.generate(CHATS, num_generations=2, max_new_tokens=6, seed=0)
    assert len(outputs) == len(CHATS)
    for chat, output in zip(CHATS, outputs):
        assert len(output["generations"]) == 2
        assert all(isinstance(text, str) for text in output["generations"])
        assert output["statistics"]["input_tokens"] == [_prompt_length(loaded_llm, chat)] * 2
        assert all(1 <= count <= 6 for count in output["statistics"]["output_tokens"])
    lengths = {output["statistics"]["input_tokens"][0] for output in outputs}
    assert len(lengths) == 3, "the chats have different lengths: left padding must not be counted"


def test_left_padding_does_not_change_a_greedy_answer(loaded_llm: TransformersLLM) -> None:
    alone = loaded_llm.generate(CHATS[:1], max_new_tokens=5, do_sample=False, repetition_penalty=1.0)
    batched = loaded_llm.generate(CHATS, max_new_tokens=5, do_sample=False, repetition_penalty=1.0)
    assert alone[0]["generations"] == batched[0]["generations"]


def test_same_seed_same_samples_other_seed_other_samples(loaded_llm: TransformersLLM) -> None:
    first = loaded_llm.generate(CHATS, max_new_tokens=8, temperature=1.0, seed=7)
    again = loaded_llm.generate(CHATS, max_new_tokens=8, temperature=1.0, seed=7)
    other = loaded_llm.generate(CHATS, max_new_tokens=8, temperature=1.0, seed=8)
    assert first == again
    assert first != other


def test_chat_template_argument_overrides_the_tokenizers(tiny_model_dir: Path) -> None:
    custom = CHAT_TEMPLATE.replace("<|assistant|>", "<|assistant|><|assistant|>")
    llm = TransformersLLM(model=str(tiny_model_dir), device="cpu", chat_template=custom)
    llm.load()
    try:
        plain = TransformersLLM(model=str(tiny_model_dir), device="cpu")
        plain.load()
        chat = CHATS[:1]
        longer = llm.generate(chat, max_new_tokens=1)[0]["statistics"]["input_tokens"][0]
        normal = plain.generate(chat, max_new_tokens=1)[0]["statistics"]["input_tokens"][0]
        assert longer == normal + 1
    finally:
        llm.unload()


def test_generate_before_load_and_after_unload_is_a_clear_error(tiny_model_dir: Path) -> None:
    llm = TransformersLLM(model=str(tiny_model_dir), device="cpu")
    with pytest.raises(RuntimeError, match="not loaded"):
        llm.generate(CHATS[:1])
    llm.load()
    assert len(llm.generate(CHATS[:1], max_new_tokens=2)) == 1
    llm.unload()
    with pytest.raises(RuntimeError, match="not loaded"):
        llm.generate(CHATS[:1])


def test_a_step_without_gpus_loads_on_cpu_even_where_cuda_is_available(tiny_model_dir: Path) -> None:
    from airflow_dististage.pipeline import Pipeline
    from airflow_dististage.steps.tasks import TextGeneration

    with Pipeline(name="cpu-default"):
        task = TextGeneration(llm=TransformersLLM(model=str(tiny_model_dir)))
    assert task.resources.gpus is None
    task.load()
    try:
        assert task.llm._model.device.type == "cpu"
    finally:
        task.unload()


def test_a_cuda_device_makes_the_step_declare_a_gpu() -> None:
    from airflow_dististage.pipeline import Pipeline
    from airflow_dististage.steps import StepResources
    from airflow_dististage.steps.tasks import TextGeneration

    with Pipeline(name="cuda-device"):
        task = TextGeneration(llm=TransformersLLM(model="m", device="cuda"))
        kept = TextGeneration(llm=TransformersLLM(model="m", device="cuda:0"), resources=StepResources(gpus=2))
        with pytest.raises(ValueError, match="Step 'text_generation_2': TransformersLLM device='cuda' needs a GPU"):
            TextGeneration(llm=TransformersLLM(model="m", device="cuda"), resources=StepResources(gpus=0))
    assert task.resources.gpus == 1
    assert kept.resources.gpus == 2


def test_a_misspelled_torch_dtype_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="torch_dtype 'bfloat61' is not one of.*Did you mean 'bfloat16'"):
        TransformersLLM(model="m", torch_dtype="bfloat61")
    assert TransformersLLM(model="m", torch_dtype="float16").torch_dtype == "float16"
