"""Every way out of a step task publishes its outcome: successors fail within seconds (``dag.test()``)."""

from __future__ import annotations

import time
from pathlib import Path

from airflow_dististage.runtime.gpus import claim_gpus
from tests.dag_runs import dag_test, finished_run

DAG_FILE = Path(__file__).with_name("dags") / "failure_paths.py"

FAIL_FAST_S = 120.0  # the old behaviour waited start_timeout_seconds (6 h)


def test_a_gpu_claim_that_times_out_fails_its_same_stage_successor(airflow_env, monkeypatch) -> None:
    env = {**airflow_env, "DISTISTAGE_GPUS": "0"}
    monkeypatch.setenv("DISTISTAGE_GPUS", "0")
    began = time.monotonic()
    with claim_gpus(1):  # this process holds GPU 0, so the step's claim cannot succeed
        run = dag_test(env, DAG_FILE, "gpu_claim_times_out", expect="failed")
    assert time.monotonic() - began < FAIL_FAST_S
    assert run["tasks"]["gpu_step"] == "failed"
    assert run["tasks"]["after_gpu"] in ("failed", "upstream_failed")


def test_an_upstream_failure_seen_while_waiting_reaches_every_successor(dag_runs) -> None:
    run = finished_run(dag_runs, "upstream_fails_while_waiting", expect="failed")
    assert run["seconds"] < FAIL_FAST_S
    assert run["tasks"] == {
        "broken": "failed",
        "middle": "failed",
        "last": "failed",
        "publish_distiset": "upstream_failed",
    }
