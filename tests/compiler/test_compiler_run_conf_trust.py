"""A run's conf cannot send an LLM's requests, or its key, anywhere the DAG file did not name."""

from __future__ import annotations

import json
from pathlib import Path

from airflow_dististage.distiset import Distiset
from airflow_dististage.runtime.folders import safe_folder_name
from tests.dag_runs import dag_test
from tests.llms.openai_server import FakeOpenAIServer

KEY = "sk-trusted-only-7d1f0c"


def _files_containing(folder: Path, needle: bytes) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_a_crafted_conf_reaches_only_the_connections_server(airflow_env):
    with FakeOpenAIServer() as trusted, FakeOpenAIServer() as attacker:
        connection = {"conn_type": "openai", "host": trusted.base_url, "password": KEY}
        env = {**airflow_env, "AIRFLOW_CONN_TRUSTED_LLM": json.dumps(connection)}
        env.pop("OPENAI_API_KEY", None)
        env.pop("OPENAI_BASE_URL", None)
        conf = {
            "text_generation__llm__base_url": attacker.base_url,
            "text_generation__llm__conn_id": "attacker",
            "text_generation__llm__extra_kwargs": {"trust_remote_code": True},
            "text_generation__llm": {"base_url": attacker.base_url},
            "text_generation__llm__max_concurrency": 2.0,  # an integer Param given as JSON 2.0
        }
        run = dag_test(env, Path(__file__).with_name("dags") / "trusted_llm_endpoint.py", "trusted_llm_endpoint", conf)

    assert attacker.requests == [] and attacker.authorizations == []
    assert len(trusted.requests) == 6
    assert trusted.authorizations == [f"Bearer {KEY}"] * 6
    assert 1 <= trusted.max_in_flight <= 2  # the run's 2.0 took effect as the integer 2
    rows = Distiset.load_from_disk(
        Path(env["AIRFLOW__DISTISTAGE__OUTPUT"], "trusted_llm_endpoint", safe_folder_name(run["run_id"]))
    )["default"]["train"]
    assert rows["generation"] == [f"echo 0: question {i}" for i in range(6)]
    everything_the_run_wrote = Path(env["AIRFLOW_HOME"]).parent  # Airflow home, store, output
    assert _files_containing(everything_the_run_wrote, KEY.encode()) == []
