"""A real ``vllm serve`` (CPU build, loopback) behind ``OpenAILLM`` and ``ClientvLLM``: through
``pipeline.run()`` and in a compiled DAG's ``dag.test()``, next to an in-process ``vLLM`` step."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_dististage.distiset import Distiset
from airflow_dististage.llms import ClientvLLM, OpenAILLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts
from airflow_dististage.steps.tasks import TextGeneration
from tests.dag_runs import dag_test, output_folder
from tests.llms.vllm_cpu.server import SERVED_NAME, vllm_server

DAG_FILE = Path(__file__).with_name("dags") / "vllm_cpu.py"
INSTRUCTIONS = [f"write a poem {i}" for i in range(4)]


@pytest.fixture(scope="module")
def server(vllm_cpu: None, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with vllm_server(tiny_model_dir, tmp_path_factory.mktemp("vllm-serve") / "server.log") as base_url:
        yield base_url


def _generated(distiset: Distiset, step: str, max_tokens: int) -> list[str]:
    rows = distiset[step]["train"].to_list()
    assert [row["instruction"] for row in rows] == INSTRUCTIONS
    for row in rows:
        statistics = row["distilabel_metadata"][f"statistics_{step}"]
        assert 1 <= statistics["output_tokens"] <= max_tokens, row
        assert statistics["input_tokens"] > 5, "the prompt went through the chat template"
    return [row["generation"] for row in rows]


def test_openai_and_client_vllm_against_vllm_serve(server: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    greedy = {"max_new_tokens": 6, "temperature": 0.0}
    with Pipeline(name="vllm-serve") as pipeline:
        LoadDataFromDicts(data=[{"instruction": text} for text in INSTRUCTIONS]) >> [
            TextGeneration(name="chat", llm=OpenAILLM(model=SERVED_NAME, base_url=server, generation_kwargs=greedy)),
            TextGeneration(
                name="client", llm=ClientvLLM(base_url=server, tokenizer=str(tiny_model_dir), generation_kwargs=greedy)
            ),
            TextGeneration(
                name="digits",
                llm=ClientvLLM(
                    base_url=server,
                    model=SERVED_NAME,
                    tokenizer=str(tiny_model_dir),
                    structured_output={"format": "regex", "schema": "[0-9]{3}"},
                    generation_kwargs={"max_new_tokens": 8, "temperature": 1.0},
                ),
            ),
        ]
    distiset = pipeline.run(use_cache=False, storage_parameters={"path": str(tmp_path / "store")})
    chat, client = _generated(distiset, "chat", 6), _generated(distiset, "client", 6)
    assert chat == client, "the server's chat template and ours render the same prompt: same greedy text"
    assert all(re.fullmatch("[0-9]{3}", text) for text in _generated(distiset, "digits", 8))
    assert set(distiset["client"]["train"]["model_name"]) == {SERVED_NAME}, "the model the server lists"


def test_vllm_in_a_compiled_dag_without_gpu(server: str, airflow_env: dict[str, str], tiny_model_dir: Path) -> None:
    env = {**airflow_env, "VLLM_SERVER_URL": server, "TINY_MODEL_DIR": str(tiny_model_dir)}
    run = dag_test(env, DAG_FILE, "vllm_cpu")
    distiset = Distiset.load_from_disk(output_folder(env, "vllm_cpu", run))
    in_process = _generated(distiset, "in_process", 6)
    assert _generated(distiset, "chat", 6) == _generated(distiset, "client", 6) == in_process, (
        "greedy text is the same in process and behind the server"
    )
