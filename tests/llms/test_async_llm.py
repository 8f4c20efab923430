"""``AsyncLLM``: a batch's inputs run concurrently from any thread, one row's failure costs only that row."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from airflow_dististage.llms import AsyncLLM
from airflow_dististage.llms.base import FatalLLMError, GenerationError
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps.tasks import TextGeneration
from tests.llms.async_llms import RendezvousLLM, answers_of


def _chats(*texts: str) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": text}] for text in texts]


@pytest.fixture
def llm():
    loaded = RendezvousLLM(together=4)
    loaded.load()
    yield loaded
    loaded.unload()


def test_distilabel_import_paths_name_one_class() -> None:
    from airflow_dististage.llms import AsyncLLM as from_llms
    from airflow_dististage.models import AsyncLLM as from_models
    from airflow_dististage.models.llms import AsyncLLM as from_models_llms
    from airflow_dististage.models.llms.base import LLM, AsyncLLM as from_base

    assert from_llms is from_models is from_models_llms is from_base is AsyncLLM
    assert issubclass(AsyncLLM, LLM)


def test_a_batch_runs_its_inputs_concurrently_in_order(llm: RendezvousLLM) -> None:
    outputs = llm.generate(_chats("a", "b", "c", "d"), num_generations=2, suffix="?")
    assert answers_of(outputs) == [["a?", "a?"], ["b?", "b?"], ["c?", "c?"], ["d?", "d?"]]
    assert outputs[0]["statistics"] == {"input_tokens": [1, 1], "output_tokens": [1, 1]}
    assert llm.peak == 4
    assert answers_of(llm.generate_outputs(_chats("e", "f", "g", "h"))) == [["e!"], ["f!"], ["g!"], ["h!"]]


def test_max_concurrency_caps_the_calls_in_flight() -> None:
    capped = RendezvousLLM(together=2, max_concurrency=2)
    capped.load()
    try:
        outputs = capped.generate(_chats(*"abcdef"))
    finally:
        capped.unload()
    assert answers_of(outputs) == [[f"{letter}!"] for letter in "abcdef"]
    assert capped.peak == 2

    alone = RendezvousLLM(together=2, max_concurrency=1, wait=0.2)
    alone.load()
    try:
        (output,) = alone.generate(_chats("a"))
    finally:
        alone.unload()
    assert output["generations"] == [None] and output["error"].startswith("TimeoutError")


def test_generate_works_from_a_thread_running_an_event_loop_and_from_worker_threads(llm: RendezvousLLM) -> None:
    async def inside_a_running_loop() -> Any:
        return llm.generate(_chats("a", "b", "c", "d"))

    assert answers_of(asyncio.run(inside_a_running_loop())) == [["a!"], ["b!"], ["c!"], ["d!"]]

    results: dict[int, Any] = {}

    def worker(index: int) -> None:
        results[index] = llm.generate(_chats(*(f"{index}{letter}" for letter in "wxyz")))

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [answers_of(results[index]) for index in range(2)] == [
        [[f"{index}{letter}!"] for letter in "wxyz"] for index in range(2)
    ]


def test_one_failing_input_costs_only_its_row(llm: RendezvousLLM) -> None:
    outputs = llm.generate(_chats("a", "poison", "c", "d"), num_generations=2)
    assert answers_of(outputs) == [["a!", "a!"], [None, None], ["c!", "c!"], ["d!", "d!"]]
    assert outputs[1]["error"] == "ValueError: poisoned row 'poison'"
    assert outputs[1]["statistics"] == {"input_tokens": [None, None], "output_tokens": [None, None]}
    assert all("error" not in output for output in (outputs[0], outputs[2], outputs[3]))


class _Raising(AsyncLLM):
    @property
    def model_name(self) -> str:
        return "raising"

    async def agenerate(self, input, num_generations: int = 1) -> Any:  # noqa: A002
        text = input[-1]["content"]
        if text == "fatal":
            raise FatalLLMError("refused")
        if text == "row":
            raise GenerationError("no answer for this row")
        if text == "malformed":
            return ["not", "a", "GenerateOutput"]
        await asyncio.sleep(30)  # cancelled when another row fails the batch
        return {"generations": [text] * num_generations}


def test_fatal_errors_and_malformed_outputs_fail_the_batch_quickly() -> None:
    llm = _Raising()
    try:
        (output,) = llm.generate(_chats("row"))
        assert output == {
            "generations": [None],
            "statistics": {"input_tokens": [None], "output_tokens": [None]},
            "error": "no answer for this row",
        }
        with pytest.raises(FatalLLMError, match="refused"):
            llm.generate(_chats("slow", "fatal"))
        with pytest.raises(TypeError, match=r"_Raising.agenerate must return a dict with a 'generations' list"):
            llm.generate(_chats("slow", "malformed"))
    finally:
        llm.unload()


class _OneAtATime(AsyncLLM):
    """Makes one generation per call, as TGI does."""

    _num_generations_param_supported = False

    @property
    def model_name(self) -> str:
        return "one"

    def load(self) -> None:
        self.calls = 0

    async def agenerate(self, input, seed: int = 0) -> Any:  # noqa: A002
        self.calls += 1
        text = input[-1]["content"]
        if text == "flaky" and self.calls % 2:
            raise ValueError("odd call")
        return {"generations": [f"{text}{self.calls}"], "statistics": {"output_tokens": [self.calls]}, "seen": seed}


def test_llms_making_one_generation_per_call_are_called_once_per_generation() -> None:
    llm = _OneAtATime(max_concurrency=1)
    llm.load()
    try:
        first, flaky = llm.generate(_chats("x", "flaky"), num_generations=3, seed=7)
    finally:
        llm.unload()
    assert llm.calls == 6
    assert first == {
        "generations": ["x1", "x2", "x3"],
        "statistics": {"output_tokens": [1, 2, 3]},
        "seen": [7, 7, 7],
    }
    assert flaky == {
        "generations": ["flaky4", None, "flaky6"],
        "statistics": {"output_tokens": [4, None, 6], "input_tokens": [None, None, None]},
        "seen": [7, None, 7],
        "error": "ValueError: odd call",
    }


def test_generation_kwargs_are_the_parameters_of_agenerate() -> None:
    llm = RendezvousLLM(generation_kwargs={"suffix": "?"})
    children = llm.runtime_parameters()["generation_kwargs"].children
    assert list(children) == ["suffix"]
    assert (children["suffix"].default, children["suffix"].description) == ("?", "appended to each answer.")
    assert "max_concurrency" in llm.runtime_parameters()
    with pytest.raises(ValueError, match=r"'sufix', which is not a parameter of its agenerate\(\).*'suffix'"):
        RendezvousLLM(generation_kwargs={"sufix": "?"})
    with pytest.raises(ValueError, match="RendezvousLLM.max_concurrency must be an integer >= 1"):
        RendezvousLLM(max_concurrency=0)


def test_a_plain_def_agenerate_is_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match=r"Blocking.agenerate must be a coroutine function: define it with `async def`"):

        class Blocking(AsyncLLM):
            def agenerate(self, input, num_generations: int = 1):  # noqa: A002
                return {"generations": ["x"] * num_generations}


def test_unload_stops_the_event_loop_and_a_later_generate_starts_another(llm: RendezvousLLM) -> None:
    llm.generate(_chats("a", "b", "c", "d"))
    thread = llm._runner().thread
    llm.unload()
    assert not thread.is_alive()
    llm.load()
    assert answers_of(llm.generate(_chats("e", "f", "g", "h"))) == [["e!"], ["f!"], ["g!"], ["h!"]]
    assert llm._runner().thread is not thread


def _generate_in_child(llm: RendezvousLLM, connection: Any) -> None:
    connection.send(answers_of(llm.generate(_chats("p", "q", "r", "s"))))


def test_a_forked_child_gets_its_own_event_loop(llm: RendezvousLLM) -> None:
    llm.generate(_chats("a", "b", "c", "d"))  # the parent's loop thread is running
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_generate_in_child, args=(llm, sending))
    child.start()
    try:
        assert receiving.poll(30), "the child answered"
        assert receiving.recv() == [["p!"], ["q!"], ["r!"], ["s!"]]
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0


def test_calling_generate_from_inside_agenerate_is_a_clear_row_error() -> None:
    class Reentrant(RendezvousLLM):
        async def agenerate(self, input, num_generations: int = 1, suffix: str = "!") -> Any:  # noqa: A002
            return self.generate([input])[0]

    llm = Reentrant()
    llm.load()
    try:
        (output,) = llm.generate(_chats("a"))
    finally:
        llm.unload()
    assert "generate() was called from inside agenerate()" in output["error"]


def test_text_generation_with_an_async_llm_in_pipeline_run(tmp_path: Path) -> None:
    with Pipeline(name="async-llm") as pipeline:
        TextGeneration(name="rendezvous", llm=RendezvousLLM(together=4), input_batch_size=4)
    rows = [{"instruction": f"question {i}"} for i in range(7)] + [{"instruction": "poison"}]
    distiset = pipeline.run(dataset=rows, use_cache=False, storage_parameters={"path": str(tmp_path / "store")})
    out = distiset["default"]["train"].to_list()
    assert [row["instruction"] for row in out] == [row["instruction"] for row in rows]
    assert [row["generation"] for row in out] == [f"question {i}!" for i in range(7)] + [None]
    assert [row["model_name"] for row in out] == ["rendezvous"] * 8
    assert out[0]["distilabel_metadata"]["statistics_rendezvous"] == {"input_tokens": 2, "output_tokens": 2}
    assert out[7]["distilabel_metadata"]["error_rendezvous"] == "ValueError: poisoned row 'poison'"
    assert out[0]["distilabel_metadata"].get("error_rendezvous") is None
