"""The column and formatting steps in real ``dag.test()`` runs of compiled DAGs, asserting the Distiset rows."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from airflow_dististage.distiset import Distiset
from tests.dag_runs import finished_run, output_folder

DAGS = Path(__file__).with_name("dags")


def dag_distiset(env: dict[str, str], dag_runs: dict[str, dict[str, Any]], dag_id: str) -> Distiset:
    """The Distiset that the shared ``dag.test()`` run of ``dag_id`` published (the run succeeded)."""
    return Distiset.load_from_disk(output_folder(env, dag_id, finished_run(dag_runs, dag_id)))


def test_column_steps_dag(airflow_env, dag_runs) -> None:
    distiset = dag_distiset(airflow_env, dag_runs, "column_steps")
    assert distiset["default"]["train"].to_list() == [
        {"id": i, "topic": f"t{i}", "generation": f"{model}-{i}", "model": model}
        for i in range(4)
        for model in ("m1", "m2", "m3")
    ]


def test_formatting_steps_dag(airflow_env, dag_runs) -> None:
    distiset = dag_distiset(airflow_env, dag_runs, "formatting_steps")
    system, user = {"role": "system", "content": "Be brief."}, {"role": "user", "content": "What's 2+2?"}
    france = {"role": "user", "content": "Capital of France?"}
    sha = [hashlib.sha256(text.encode()).hexdigest() for text in ("What's 2+2?", "Capital of France?")]
    dpo = distiset["dpo"]["train"].select_columns(
        ["prompt", "prompt_id", "chosen", "chosen_model", "chosen_rating", "rejected", "rejected_model",
         "rejected_rating"]
    ).to_list()
    assert dpo == [
        {
            "prompt": "What's 2+2?", "prompt_id": sha[0],
            "chosen": [system, user, {"role": "assistant", "content": "4"}], "chosen_model": "A", "chosen_rating": 5,
            "rejected": [system, user, {"role": "assistant", "content": "5"}], "rejected_model": "B",
            "rejected_rating": 1,
        },
        {
            "prompt": "Capital of France?", "prompt_id": sha[1],
            "chosen": None, "chosen_model": None, "chosen_rating": None,
            "rejected": None, "rejected_model": None, "rejected_rating": None,
        },
    ]
    sft = distiset["sft"]["train"].select_columns(["prompt", "prompt_id", "messages"]).to_list()
    assert sft == [
        {"prompt": "What's 2+2?", "prompt_id": sha[0],
         "messages": [system, user, {"role": "assistant", "content": "4"}]},
        {"prompt": "Capital of France?", "prompt_id": sha[1],
         "messages": [france, {"role": "assistant", "content": "Paris"}]},
    ]
    assert distiset["conversation"]["train"]["conversation"] == [
        [user, {"role": "assistant", "content": "4"}],
        [france, {"role": "assistant", "content": "Paris"}],
    ]
