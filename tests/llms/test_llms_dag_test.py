"""The LLM family in one real ``dag.test()`` run of a compiled DAG (tests/llms/dags/llm_family.py)."""

from __future__ import annotations

from pathlib import Path

from airflow_dististage.distiset import Distiset
from airflow_dististage.runtime.folders import safe_folder_name
from tests.dag_runs import dag_test
from tests.llms.openai_server import FakeOpenAIServer
from tests.llms.test_structured_output import PERSON_SCHEMA, VALID, WRONG_TYPE
from tests.llms.tiny_model import build_answering_model

DAG_FILE = Path(__file__).with_name("dags") / "llm_family.py"
TOKEN = "hf_dag_token_do_not_leak"


def test_llm_family_dag(airflow_env, tiny_model_dir: Path, tmp_path: Path) -> None:
    answering = build_answering_model(tiny_model_dir, tmp_path / "answering", [VALID, WRONG_TYPE])
    with FakeOpenAIServer(answer=lambda messages, n, max_tokens: [VALID] * n) as openai, FakeOpenAIServer() as tgi:
        env = {
            **airflow_env,
            "OPENAI_BASE_URL": openai.base_url,
            "TGI_BASE_URL": tgi.root_url,
            "HF_TOKEN": TOKEN,
            "HF_HOME": str(tmp_path / "hf-home"),
            "HF_ENDPOINT": tgi.root_url,  # the hub client's own calls stay on loopback
            "ANSWERING_MODEL_DIR": str(answering),
        }
        conf = {"tgi__llm__generation_kwargs__max_new_tokens": 7}
        run = dag_test(env, DAG_FILE, "llm_family", conf)

    output = Path(airflow_env["AIRFLOW__DISTISTAGE__OUTPUT"]) / "llm_family" / safe_folder_name(run["run_id"])
    distiset = Distiset.load_from_disk(output)
    instructions = [f"describe person {i}" for i in range(4)]

    def column(step: str, name: str) -> list:
        rows = distiset[step]["train"].to_list()
        assert [row["instruction"] for row in rows] == instructions
        return [row[name] for row in rows]

    assert column("rendezvous", "generation") == [f"{text}!" for text in instructions]  # batches ran concurrently
    assert column("openai_person", "generation") == [VALID] * 4
    assert {str(request["response_format"]["json_schema"]["schema"]) for request in openai.requests} == {
        str(PERSON_SCHEMA)
    }
    assert column("tgi", "generation") == [f"echo 0: {text}" for text in instructions]
    assert [request["max_tokens"] for request in tgi.requests] == [7] * 4, "a run's conf tunes the requests"
    assert tgi.authorizations == [f"Bearer {TOKEN}"] * 4
    assert column("local_person", "generation") == [VALID] * 4
