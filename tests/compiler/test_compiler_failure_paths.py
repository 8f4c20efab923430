"""Every way out of a step task publishes its outcome: successors fail within seconds (``dag.test()``)."""

from __future__ import annotations

import time

from airflow_dististage.runtime.gpus import claim_gpus
from tests.compiler.test_compiler_dag_test import _dag_test, airflow_env  # noqa: F401 - the fixture

FAIL_FAST_S = 120.0  # the old behaviour waited start_timeout_seconds (6 h)


def test_a_gpu_claim_that_times_out_fails_its_same_stage_successor(airflow_env, monkeypatch) -> None:  # noqa: F811
    env = {**airflow_env, "DISTISTAGE_GPUS": "0"}
    monkeypatch.setenv("DISTISTAGE_GPUS", "0")
    began = time.monotonic()
    with claim_gpus(1):  # this process holds GPU 0, so the step's claim cannot succeed
        run = _dag_test(env, "failure_paths.py", "gpu_claim_times_out", {}, expect="failed")
    assert time.monotonic() - began < FAIL_FAST_S
    assert run["tasks"]["gpu_step"] == "failed"
    assert run["tasks"]["after_gpu"] in ("failed", "upstream_failed")


def test_an_upstream_failure_seen_while_waiting_reaches_every_successor(airflow_env) -> None:  # noqa: F811
    began = time.monotonic()
    run = _dag_test(airflow_env, "failure_paths.py", "upstream_fails_while_waiting", {}, expect="failed")
    assert time.monotonic() - began < FAIL_FAST_S
    assert run["tasks"] == {
        "broken": "failed",
        "middle": "failed",
        "last": "failed",
        "publish_distiset": "upstream_failed",
    }
