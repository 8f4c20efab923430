"""InferenceEndpointsLLM against a real loopback server speaking TGI's routes (tests/llms/openai_server.py),
through the real ``huggingface_hub`` client."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import BaseModel

from airflow_dististage.llms import InferenceEndpointsLLM
from airflow_dististage.llms.base import FatalLLMError
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps.tasks import TextGeneration
from tests.llms.openai_server import FakeOpenAIServer

TOKEN = "hf_test_do_not_leak_4242"
CHAT = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no token file of the machine's user
    with FakeOpenAIServer() as running:
        # What the client asks the Hub itself (the registry behind its user agent) goes to loopback too.
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", running.root_url)
        yield running


def _loaded(server: FakeOpenAIServer, **kwargs) -> InferenceEndpointsLLM:
    llm = InferenceEndpointsLLM(**{"base_url": server.root_url, "retry_backoff": 0.01, **kwargs})
    llm.load()
    return llm


def test_distilabel_import_paths() -> None:
    from airflow_dististage.llms import InferenceEndpointsLLM as from_llms
    from airflow_dististage.models.llms import InferenceEndpointsLLM as from_models
    from airflow_dististage.models.llms.huggingface import InferenceEndpointsLLM as from_huggingface
    from airflow_dististage.models.llms.huggingface.inference_endpoints import InferenceEndpointsLLM as from_module

    assert from_llms is from_models is from_huggingface is from_module is InferenceEndpointsLLM


def test_chats_go_to_the_chat_route_with_the_token_from_hf_token(server: FakeOpenAIServer) -> None:
    llm = _loaded(server, model_id="org/tiny", generation_kwargs={"max_new_tokens": 9})
    try:
        (output,) = llm.generate([CHAT], max_new_tokens=9, temperature=0.5, stop_sequences=["\n"])
    finally:
        llm.unload()
    assert output == {
        "generations": ["echo 0: hello there"],
        "statistics": {"input_tokens": [4], "output_tokens": [4]},
    }
    assert server.paths == ["/v1/chat/completions"]
    (request,) = server.requests
    assert request["messages"] == CHAT
    assert (request["model"], request["max_tokens"], request["temperature"], request["stop"]) == (
        "org/tiny", 9, 0.5, ["\n"]
    )
    assert isinstance(request["seed"], int), "a random seed, so that TGI's cache does not repeat answers"
    assert server.authorizations == [f"Bearer {TOKEN}"]
    assert llm.model_name == "org/tiny"


def test_with_a_tokenizer_prompts_go_to_the_generate_route(server: FakeOpenAIServer, tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    llm = _loaded(server, tokenizer_id=str(tiny_model_dir), model_display_name="tiny-tgi")
    try:
        outputs = llm.generate([CHAT], num_generations=3, max_new_tokens=5, seed=4, do_sample=True, top_k=3)
    finally:
        llm.unload()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompt = tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert server.paths == ["/"] * 3, "TGI makes one generation per request"
    assert {request["inputs"] for request in server.requests} == {prompt}
    parameters = server.requests[0]["parameters"]
    assert parameters["details"] is True
    assert [parameters[key] for key in ("max_new_tokens", "seed", "do_sample", "top_k")] == [5, 4, True, 3]
    assert "grammar" not in parameters or parameters["grammar"] is None
    assert outputs[0]["generations"] == [f"echo 0: {prompt}"] * 3
    assert outputs[0]["statistics"] == {
        "input_tokens": [len(tokenizer.encode(prompt, add_special_tokens=False))] * 3,
        "output_tokens": [len(f"echo 0: {prompt}".split())] * 3,
    }
    with Pipeline(name="tgi-name"):
        task = TextGeneration(llm=InferenceEndpointsLLM(base_url=server.root_url, model_display_name="tiny-tgi"))
    assert task.llm.model_name == "tiny-tgi"


def test_structured_output_is_tgis_grammar_on_both_routes(server: FakeOpenAIServer, tiny_model_dir: Path) -> None:
    schema = Person.model_json_schema()
    generate_route = _loaded(server, tokenizer_id=str(tiny_model_dir), structured_output={"schema": Person})
    chat_route = _loaded(server, structured_output={"format": "regex", "schema": r"\d+"})
    try:
        generate_route.generate([CHAT])
        chat_route.generate([CHAT])
    finally:
        generate_route.unload()
        chat_route.unload()
    assert server.requests[0]["parameters"]["grammar"] == {"type": "json", "value": schema}
    assert server.requests[1]["response_format"] == {"type": "regex", "value": r"\d+"}

    json_chat = _loaded(server, structured_output={"schema": Person})
    try:
        json_chat.generate([CHAT])
    finally:
        json_chat.unload()
    assert server.requests[2]["response_format"] == {"type": "json_object", "value": schema}


def test_transient_failures_are_retried_and_lasting_ones_cost_only_their_row(server: FakeOpenAIServer) -> None:
    server.script.extend([("status", 503), ("status", 429)])
    server.fail_when = lambda messages: 400 if messages[-1]["content"] == "poison" else None
    llm = _loaded(server, max_retries=2)
    try:
        good, bad = llm.generate([CHAT, [{"role": "user", "content": "poison"}]])
    finally:
        llm.unload()
    assert good["generations"] == ["echo 0: hello there"]
    assert bad["generations"] == [None]
    assert "400" in bad["error"] and TOKEN not in bad["error"]


def test_refused_tokens_fail_the_step_and_the_token_never_reaches_logs(
    server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.script.extend([("status", 500), ("status", 401)])
    with caplog.at_level(logging.DEBUG):
        llm = _loaded(server, max_retries=3)
        try:
            with pytest.raises(FatalLLMError, match="(?s)refused the request with 401.*api_key / HF_TOKEN") as error:
                llm.generate([CHAT])
            logging.getLogger("probe").debug("llm is %r with %s", llm, vars(llm))
        finally:
            llm.unload()
    assert server.authorizations == [f"Bearer {TOKEN}"] * 2
    assert TOKEN not in str(error.value)
    assert any("attempt 1/4 failed" in record.getMessage() for record in caplog.records)
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
    assert TOKEN not in repr(llm) and TOKEN not in str(vars(llm))


def test_hub_offline_mode_fails_the_step_at_once(server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    llm = _loaded(server, max_retries=5, retry_backoff=5.0)
    try:
        with pytest.raises(FatalLLMError, match="huggingface_hub refuses every request while HF_HUB_OFFLINE"):
            llm.generate([CHAT])
    finally:
        llm.unload()
    assert server.requests == []


def test_an_explicit_api_key_wins_over_hf_token(server: FakeOpenAIServer) -> None:
    llm = _loaded(server, api_key="hf_explicit")
    try:
        llm.generate([CHAT])
    finally:
        llm.unload()
    assert server.authorizations == ["Bearer hf_explicit"]


def test_base_url_is_not_a_param_a_run_may_set_and_an_endpoint_is_required() -> None:
    from airflow_dististage.compiler.params import collect_step_params

    with Pipeline(name="tgi-params") as pipeline:
        TextGeneration(name="tgi", llm=InferenceEndpointsLLM(base_url="http://127.0.0.1:9"))
    params = collect_step_params(pipeline)
    assert params["tgi__llm__base_url"].info.run_conf is False
    assert params["tgi__llm__generation_kwargs__max_new_tokens"].info.run_conf is True
    assert not any("api_key" in key for key in params)
    with pytest.raises(ValueError, match="InferenceEndpointsLLM needs base_url .* or model_id"):
        InferenceEndpointsLLM()
