"""OpenAILLM against a real chat-completions server on loopback (tests/llms/openai_server.py)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from airflow_dististage.llms import OpenAILLM, TransformersLLM
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps.tasks import TextGeneration
from tests.llms.openai_server import FakeOpenAIServer

KEY = "sk-test-do-not-leak-4242"
CHAT = [{"role": "user", "content": "hello"}]


@pytest.fixture
def server():
    with FakeOpenAIServer() as running:
        yield running


def _loaded(server: FakeOpenAIServer, **kwargs) -> OpenAILLM:
    llm = OpenAILLM(model="tiny", base_url=server.base_url, api_key=KEY, retry_backoff=0.01, **kwargs)
    llm.load()
    return llm


def test_answers_with_generations_and_token_statistics(server: FakeOpenAIServer) -> None:
    llm = _loaded(server)
    chats = [CHAT, [{"role": "user", "content": "two words"}]]
    outputs = llm.generate(chats, num_generations=2, max_new_tokens=7, seed=3)
    assert outputs[0]["generations"] == ["echo 0: hello", "echo 1: hello"]
    assert outputs[1]["statistics"] == {"input_tokens": [2, 2], "output_tokens": [4, 4]}
    assert server.requests[0]["n"] == 2 and server.requests[0]["max_tokens"] == 7 and server.requests[0]["seed"] == 3
    assert server.authorizations == [f"Bearer {KEY}"] * 2
    llm.unload()


def test_retries_429_and_500_then_succeeds(server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture) -> None:
    server.script.extend([("status", 429), ("status", 500), ("status", 503)])
    llm = _loaded(server, max_retries=3)
    with caplog.at_level(logging.WARNING):
        (output,) = llm.generate([CHAT])
    assert output["generations"] == ["echo 0: hello"] and "error" not in output
    assert len(server.requests) == 4
    assert [record.getMessage().split("(")[1].split(":")[0] for record in caplog.records] == [
        "RateLimitError", "InternalServerError", "InternalServerError"
    ]


def test_a_row_that_keeps_failing_gets_none_and_its_error_not_a_failed_batch(server: FakeOpenAIServer) -> None:
    server.fail_when = lambda messages: 500 if messages[-1]["content"] == "poison" else None
    llm = _loaded(server, max_retries=2)
    good, bad = llm.generate([CHAT, [{"role": "user", "content": "poison"}]], num_generations=2)
    assert good["generations"] == ["echo 0: hello", "echo 1: hello"]
    assert bad["generations"] == [None, None]
    assert bad["statistics"] == {"input_tokens": [None, None], "output_tokens": [None, None]}
    assert "InternalServerError" in bad["error"] and "after 3 attempts" in bad["error"]
    poison_requests = [r for r in server.requests if r["messages"][-1]["content"] == "poison"]
    assert len(poison_requests) == 3


def test_client_errors_are_not_retried_but_recorded(server: FakeOpenAIServer) -> None:
    server.script.append(("status", 400))
    llm = _loaded(server, max_retries=5)
    (output,) = llm.generate([CHAT])
    assert output["generations"] == [None] and "BadRequestError" in output["error"]
    assert len(server.requests) == 1


def test_refused_credentials_fail_the_step_without_leaking_the_key(server: FakeOpenAIServer) -> None:
    server.script.append(("status", 401))
    llm = _loaded(server)
    with pytest.raises(RuntimeError, match="refused the request with 401") as error:
        llm.generate([CHAT])
    assert KEY not in str(error.value)
    assert len(server.requests) == 1


def test_slow_answers_time_out_and_are_retried(server: FakeOpenAIServer) -> None:
    server.script.append(("sleep", 3.0))
    llm = _loaded(server, timeout=0.5, max_retries=1)
    (output,) = llm.generate([CHAT])
    assert output["generations"] == ["echo 0: hello"]
    assert len(server.requests) == 2

    server.script.extend([("sleep", 3.0), ("sleep", 3.0)])
    (output,) = llm.generate([CHAT])
    assert output["generations"] == [None] and "APITimeoutError" in output["error"]


def test_concurrency_is_capped_at_max_concurrency(server: FakeOpenAIServer) -> None:
    server.delay = 0.15
    llm = _loaded(server, max_concurrency=3)
    chats = [[{"role": "user", "content": f"q{i}"}] for i in range(12)]
    outputs = llm.generate(chats)
    assert [o["generations"][0] for o in outputs] == [f"echo 0: q{i}" for i in range(12)], "order is kept"
    assert server.max_in_flight == 3


def test_the_key_never_reaches_logs_or_reprs(server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture) -> None:
    server.script.extend([("status", 429), ("status", 500)])
    with caplog.at_level(logging.DEBUG):
        llm = _loaded(server, max_retries=1)
        llm.generate([CHAT, CHAT])
        logging.getLogger("probe").debug("llm is %r with %s", llm, vars(llm))
    assert len(caplog.records) > 3, "debug logging of the HTTP client was captured"
    assert all(KEY not in record.getMessage() for record in caplog.records)
    assert KEY not in repr(llm) and KEY not in str(vars(llm))


def test_credentials_from_an_airflow_connection(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    connection = {"conn_type": "openai", "host": server.base_url, "password": "sk-from-connection"}
    monkeypatch.setenv("AIRFLOW_CONN_TINY_OPENAI", json.dumps(connection))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = OpenAILLM(model="tiny", conn_id="tiny_openai")
    llm.load()
    assert llm.generate([CHAT])[0]["generations"] == ["echo 0: hello"]
    assert server.authorizations == ["Bearer sk-from-connection"]


def test_credentials_from_the_environment(server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    llm = OpenAILLM(model="tiny")
    llm.load()
    llm.generate([CHAT])
    assert server.authorizations == ["Bearer sk-from-env"]


def test_no_key_for_openai_itself_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="has no API key"):
        OpenAILLM(model="gpt-4o").load()


def test_limits_are_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="max_concurrency must be an integer >= 1"):
        OpenAILLM(model="m", max_concurrency=0)
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        OpenAILLM(model="m", timeout=0)


def test_text_generation_through_a_server_answering_with_the_tiny_model(tiny_model_dir: Path) -> None:
    model = TransformersLLM(model=str(tiny_model_dir), device="cpu")
    model.load()
    lock = threading.Lock()

    def answer(messages, n, max_tokens):
        with lock:
            return model.generate([messages], num_generations=n, max_new_tokens=max_tokens, seed=0)[0]["generations"]

    with FakeOpenAIServer(answer=answer) as server:
        server.fail_when = lambda messages: 503 if messages[-1]["content"] == "poison" else None
        with Pipeline(name="served"):
            task = TextGeneration(
                name="served",
                llm=OpenAILLM(
                    model="tiny", base_url=server.base_url, api_key=KEY, max_retries=1, retry_backoff=0.01,
                    generation_kwargs={"max_new_tokens": 5},
                ),
            )
        task.load()
        (rows,) = list(task.process([{"instruction": "write a poem"}, {"instruction": "poison"}]))
        task.unload()
    direct = model.generate([[{"role": "user", "content": "write a poem"}]], max_new_tokens=5, seed=0)[0]
    assert rows[0]["generation"] == direct["generations"][0]
    assert rows[0]["model_name"] == "tiny"
    assert rows[1]["generation"] is None
    assert "InternalServerError" in rows[1]["distilabel_metadata"]["error_served"]
    assert rows[1]["distilabel_metadata"]["raw_output_served"] is None
    model.unload()


@pytest.mark.parametrize("group_generations", [False, True])
def test_a_server_answering_with_too_few_choices_loses_no_row(group_generations: bool) -> None:
    def answer(messages, n, max_tokens):
        return [] if messages[-1]["content"] == "empty" else [f"only one: {messages[-1]['content']}"]

    with FakeOpenAIServer(answer=answer) as server:
        with Pipeline(name="few-choices"):
            task = TextGeneration(
                name="few",
                num_generations=2,
                group_generations=group_generations,
                llm=OpenAILLM(model="tiny", base_url=server.base_url, api_key=KEY, max_retries=0),
            )
        task.load()
        (rows,) = list(task.process([{"instruction": "empty"}, {"instruction": "short"}]))
        task.unload()
    if group_generations:
        assert [row["generation"] for row in rows] == [[None, None], ["only one: short", None]]
        errors = [row["distilabel_metadata"][0]["error_few"] for row in rows]
    else:
        assert [row["generation"] for row in rows] == [None, None, "only one: short", None]
        assert rows[2]["distilabel_metadata"]["statistics_few"]["input_tokens"] == 1
        assert rows[3]["distilabel_metadata"]["statistics_few"] == {"input_tokens": None, "output_tokens": None}
        errors = [rows[0]["distilabel_metadata"]["error_few"], rows[2]["distilabel_metadata"]["error_few"]]
    assert errors == ["OpenAILLM returned 0 of 2 generations", "OpenAILLM returned 1 of 2 generations"]


def test_a_connection_with_a_bare_host_uses_its_schema_port_and_path(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    connection = {"conn_type": "openai", "host": "127.0.0.1", "port": port, "schema": "http", "password": "sk-c"}
    monkeypatch.setenv("AIRFLOW_CONN_BARE_HOST", json.dumps(connection))
    llm = OpenAILLM(model="tiny", conn_id="bare_host")
    llm.load()
    assert llm.generate([CHAT])[0]["generations"] == ["echo 0: hello"]
    llm.unload()

    monkeypatch.setenv("AIRFLOW_CONN_BARE_HOST", json.dumps({**connection, "schema": None}))
    with pytest.raises(ValueError, match="connection 'bare_host': host '127.0.0.1' has no scheme"):
        OpenAILLM(model="tiny", conn_id="bare_host").load()
