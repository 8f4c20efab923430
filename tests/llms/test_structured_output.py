"""``structured_output`` as distilabel has it: normalised at build, sent to OpenAI-compatible servers as
``response_format``, enforced by validate-and-retry in TransformersLLM (on a real tiny model), and by
guided decoding in vLLM (vLLM is not installed here: its keyword choice is tested on stand-ins)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import pytest
from pydantic import BaseModel

from airflow_dististage.llms import InferenceEndpointsLLM, OpenAILLM, TransformersLLM, vLLM
from airflow_dististage.llms.vllm import guided_decoding_kwargs
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps.tasks import TextGeneration
from tests.conftest import REPO_ROOT
from tests.llms.openai_server import FakeOpenAIServer
from tests.llms.tiny_model import build_answering_model

VALID = '{"name": "Ann", "age": 3}'
WRONG_TYPE = '{"name": "Ann", "age": "three"}'
CHATS = [[{"role": "user", "content": f"describe person {i}"}] for i in range(6)]


class Person(BaseModel):
    name: str
    age: int


PERSON_SCHEMA = Person.model_json_schema()


@pytest.fixture(scope="module")
def answering_model(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny model answering VALID or WRONG_TYPE, each with probability 1/2."""
    return build_answering_model(tiny_model_dir, tmp_path_factory.mktemp("answering"), [VALID, WRONG_TYPE])


# -- normalisation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "given",
    [
        {"format": "json", "schema": Person},
        {"schema": Person},
        {"format": "json", "schema": PERSON_SCHEMA},
        {"format": "json", "schema": json.dumps(PERSON_SCHEMA)},
    ],
)
def test_every_distilabel_form_of_a_json_schema_becomes_the_same_plain_dict(given: dict) -> None:
    llm = OpenAILLM(model="m", structured_output=given)
    assert llm.structured_output == {"format": "json", "schema": PERSON_SCHEMA}
    assert OpenAILLM(model="m", structured_output=llm.structured_output).structured_output == llm.structured_output


def test_a_string_schema_without_format_is_a_regex_as_in_distilabel() -> None:
    llm = TransformersLLM(model="m", structured_output={"schema": r"\d+", "max_retries": 1})
    assert llm.structured_output == {"format": "regex", "schema": r"\d+", "max_retries": 1}


@pytest.mark.parametrize(
    ("llm_class", "given", "error", "message"),
    [
        (OpenAILLM, {"format": "regex", "schema": "a+"}, ValueError, r"OpenAILLM enforces .*\['json'\], not 'regex'"),
        (OpenAILLM, {"schema": Person, "mode": "tools"}, ValueError, "key 'mode', which OpenAILLM does not use"),
        (TransformersLLM, {"schema": Person, "max_retry": 2}, ValueError, "'max_retry'.*Did you mean 'max_retries'"),
        (TransformersLLM, {"schema": Person, "max_retries": -1}, ValueError, r"\['max_retries'\] must be an integer"),
        (vLLM, {"format": "json"}, ValueError, "vLLM.structured_output needs a 'schema'"),
        (vLLM, {"schema": {"type": "integer", "minimum": "zero"}}, ValueError, "is not a valid JSON schema"),
        (vLLM, {"schema": "(unclosed"}, ValueError, "is not a valid regex"),
        (vLLM, {"schema": 42}, TypeError, "must be a regex string|must be a JSON schema"),
        (vLLM, "json", TypeError, r"vLLM.structured_output must be a dict"),
        (InferenceEndpointsLLM, {"schema": "{not json", "format": "json"}, ValueError, "is a string but not JSON"),
    ],
)
def test_bad_structured_outputs_fail_at_build_naming_the_llm(llm_class, given, error, message) -> None:
    base = {"base_url": "http://127.0.0.1:9"} if llm_class is InferenceEndpointsLLM else {"model": "m"}
    with pytest.raises(error, match=message):
        llm_class(**base, structured_output=given)


def test_the_schema_is_a_json_param_and_part_of_the_fingerprint() -> None:
    from airflow_dististage.compiler.params import collect_step_params

    class Other(BaseModel):
        name: str
        age: float

    with Pipeline(name="structured") as pipeline:
        person = TextGeneration(name="person", llm=OpenAILLM(model="m", structured_output={"schema": Person}))
        other = TextGeneration(name="other", llm=OpenAILLM(model="m", structured_output={"schema": Other}))
    info = collect_step_params(pipeline)["person__llm__structured_output"].info
    assert info.run_conf, "a schema shapes requests, it does not redirect them"
    assert json.loads(json.dumps(info.default)) == {"format": "json", "schema": PERSON_SCHEMA}  # an Airflow Param
    assert person.fingerprint() != other.fingerprint()

    pipeline.set_runtime_parameters({"person": {"llm": {"structured_output": {"schema": {"type": "object"}}}}})
    assert person.llm.structured_output == {"format": "json", "schema": {"type": "object"}}
    with pytest.raises(ValueError, match="Runtime parameters of Step 'person'.llm: OpenAILLM enforces"):
        pipeline.set_runtime_parameters({"person": {"llm": {"structured_output": {"schema": "x+"}}}})


def test_a_dag_file_with_a_pydantic_schema_imports_nothing_heavy() -> None:
    script = textwrap.dedent(
        """
        import sys
        from pydantic import BaseModel
        from airflow_dististage.models.llms import InferenceEndpointsLLM, OpenAILLM, TransformersLLM, vLLM
        from airflow_dististage.pipeline import Pipeline
        from airflow_dististage.steps.tasks import TextGeneration

        class Person(BaseModel):
            name: str

        with Pipeline(name="structured"):
            for llm in (
                OpenAILLM(model="m", structured_output={"schema": Person}),
                TransformersLLM(model="m", structured_output={"schema": Person}),
                vLLM(model="m", structured_output={"schema": Person}),
                InferenceEndpointsLLM(base_url="http://tgi:8080", structured_output={"schema": Person}),
            ):
                TextGeneration(llm=llm)
        heavy = {"torch", "transformers", "vllm", "openai", "datasets", "huggingface_hub", "airflow"}
        print(sorted(heavy & set(sys.modules)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.splitlines()[-1] == "[]"


# -- OpenAI-compatible servers ---------------------------------------------------------------
def test_openai_requests_carry_the_schema_and_generations_are_the_servers_json() -> None:
    with FakeOpenAIServer(answer=lambda messages, n, max_tokens: [VALID] * n) as server:
        with Pipeline(name="openai-structured"):
            task = TextGeneration(
                name="person",
                llm=OpenAILLM(
                    model="tiny", base_url=server.base_url, api_key="sk-x", structured_output={"schema": Person}
                ),
            )
        task.load()
        try:
            (rows,) = list(task.process([{"instruction": "describe Ann"}]))
        finally:
            task.unload()
    assert server.requests[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Person", "schema": PERSON_SCHEMA},
    }
    assert rows[0]["generation"] == VALID
    assert Person.model_validate_json(rows[0]["generation"]) == Person(name="Ann", age=3)


def test_openai_response_format_and_structured_output_are_not_both_set() -> None:
    with pytest.raises(ValueError, match="both structured_output and generation_kwargs\\['response_format'\\]"):
        OpenAILLM(
            model="m",
            structured_output={"schema": Person},
            generation_kwargs={"response_format": {"type": "json_object"}},
        )


# -- TransformersLLM: validate and retry, on a real model ------------------------------------
def _generations(llm: TransformersLLM, **kwargs) -> list:
    llm.load()
    try:
        return llm.generate(CHATS, num_generations=2, seed=11, temperature=1.0, **kwargs)
    finally:
        llm.unload()


def test_transformers_retries_generations_until_they_match_the_schema(answering_model: Path) -> None:
    free = _generations(TransformersLLM(model=str(answering_model), device="cpu"))
    first_attempts = [text for output in free for text in output["generations"]]
    assert set(first_attempts) == {VALID, WRONG_TYPE}, "without structured output some answers are wrong"

    structured = TransformersLLM(
        model=str(answering_model), device="cpu", structured_output={"schema": Person, "max_retries": 10}
    )
    outputs = _generations(structured)
    assert [output["generations"] for output in outputs] == [[VALID, VALID]] * len(CHATS)
    assert all("error" not in output for output in outputs)
    assert all(output["statistics"]["output_tokens"] == [2, 2] for output in outputs)  # the answer and <eos>
    kept = [i for i, text in enumerate(first_attempts) if text == VALID]
    assert kept, "valid first attempts exist and are kept as they are"


def test_transformers_gives_up_after_max_retries_with_an_error_naming_the_llm(answering_model: Path) -> None:
    adults = {"type": "object", "properties": {"age": {"type": "integer", "minimum": 18}}, "required": ["age"]}
    structured_output = {"schema": adults, "max_retries": 2}
    llm = TransformersLLM(model=str(answering_model), device="cpu", structured_output=structured_output)
    outputs = _generations(llm)
    assert [output["generations"] for output in outputs] == [[None, None]] * len(CHATS)
    assert outputs[0]["statistics"]["output_tokens"] == [None, None]
    error = outputs[0]["error"]
    assert error.startswith(f"TransformersLLM(model={str(answering_model)!r}): 2 of 2 generation(s) did not match")
    assert "after 3 attempt(s)" in error
    assert "does not match the schema at ['age']" in error or "not of type 'integer'" in error


def test_transformers_regex_structured_output(answering_model: Path) -> None:
    llm = TransformersLLM(
        model=str(answering_model),
        device="cpu",
        structured_output={"format": "regex", "schema": r'\{"name": "Ann", "age": \d+\}', "max_retries": 10},
    )
    assert {text for output in _generations(llm) for text in output["generations"]} == {VALID}


# -- vLLM (not installed here): the SamplingParams keyword for each vLLM API generation ----
@dataclass
class _Params:
    json: Optional[dict] = None
    regex: Optional[str] = None
    whitespace_pattern: Optional[str] = None


def test_vllm_uses_structured_outputs_where_it_exists_else_guided_decoding() -> None:
    structured = vLLM(model="m", structured_output={"schema": Person, "whitespace_pattern": r"[ ]?"}).structured_output
    newer = SimpleNamespace(StructuredOutputsParams=_Params, GuidedDecodingParams=_Params)
    assert guided_decoding_kwargs(structured, newer) == {
        "structured_outputs": _Params(json=PERSON_SCHEMA, whitespace_pattern=r"[ ]?")
    }
    older = SimpleNamespace(GuidedDecodingParams=_Params)
    regex = vLLM(model="m", structured_output={"schema": r"\d+"}).structured_output
    assert guided_decoding_kwargs(regex, older) == {"guided_decoding": _Params(regex=r"\d+")}
    with pytest.raises(ImportError, match="neither StructuredOutputsParams nor GuidedDecodingParams"):
        guided_decoding_kwargs(regex, SimpleNamespace())
