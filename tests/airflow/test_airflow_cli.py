"""``airflow dististage pools sync`` and ``airflow dististage plan`` against a real Airflow database."""

from __future__ import annotations

import pytest

from airflow_dististage.devstack import AirflowApi, AirflowApiError, AirflowDevStack

pytestmark = pytest.mark.airflow


def _pool_slots(api: AirflowApi, name: str) -> int | None:
    try:
        return api.request("GET", f"/api/v2/pools/{name}")["slots"]
    except AirflowApiError as error:
        if error.status == 404:
            return None
        raise


def test_pools_sync_creates_then_resizes_the_pool(airflow_stack: AirflowDevStack, api: AirflowApi) -> None:
    airflow_stack.run_cli("dististage", "pools", "sync", "--gpus", "3", "--pool", "cli_resized")
    assert _pool_slots(api, "cli_resized") == 3
    airflow_stack.run_cli("dististage", "pools", "sync", "--gpus", "2", "--pool", "cli_resized")
    assert _pool_slots(api, "cli_resized") == 2


def test_pools_sync_counts_the_hosts_gpus(airflow_stack: AirflowDevStack, api: AirflowApi) -> None:
    airflow_stack.run_cli("dististage", "pools", "sync", "--pool", "cli_counted", env={"DISTISTAGE_GPUS": "0,1"})
    assert _pool_slots(api, "cli_counted") == 2


def test_pools_sync_without_gpus_explains_and_creates_nothing(airflow_stack: AirflowDevStack, api: AirflowApi) -> None:
    done = airflow_stack.run_cli(
        "dististage", "pools", "sync", "--pool", "cli_no_gpu", check=False, env={"DISTISTAGE_GPUS": ""}
    )
    assert done.returncode != 0
    assert "No GPU found" in done.stderr and "--gpus N" in done.stderr
    assert _pool_slots(api, "cli_no_gpu") is None


def test_pools_sync_refuses_zero_slots(airflow_stack: AirflowDevStack, api: AirflowApi) -> None:
    done = airflow_stack.run_cli("dististage", "pools", "sync", "--gpus", "0", "--pool", "cli_zero", check=False)
    assert done.returncode != 0
    assert "--gpus must be at least 1" in done.stderr
    assert _pool_slots(api, "cli_zero") is None


def test_plan_prints_stages_with_gpu_need_and_pool_fit(airflow_stack: AirflowDevStack) -> None:
    done = airflow_stack.run_cli("dististage", "plan", "gpu_standin")
    assert done.stdout.splitlines() == [
        "DAG 'gpu_standin' (pipeline 'gpu-standin'): pool 'dististage_gpu' has 1 slot(s)",
        "Stage 0: ['slow_rows', 'gpu_a', 'gpu_b'] GPUs: 2 - GPU tasks take turns: pool 'dististage_gpu' has 1 slot(s)",
        "Stage 1: ['collect'] GPUs: 0",
        "Stage 2: ['add_suffix'] GPUs: 0",
    ]


def test_plan_fails_when_a_step_can_never_get_its_gpus(airflow_stack: AirflowDevStack) -> None:
    done = airflow_stack.run_cli("dististage", "plan", "gpu_pool_missing", check=False)
    assert done.returncode != 0
    assert "Stage 0: ['load_data_from_dicts_0', 'gpu_step'] GPUs: 1 - never runs" in done.stdout
    assert "pool 'dististage_missing_pool' does not exist" in done.stdout
    assert "pools sync --gpus N" in done.stderr


def test_plan_of_a_dag_file_prints_every_pipeline_dag(airflow_stack: AirflowDevStack) -> None:
    seed_file = airflow_stack.dags_folder / "seed_pipeline.py"
    done = airflow_stack.run_cli("dististage", "plan", str(seed_file))
    assert done.stdout.splitlines()[1:] == [
        "Stage 0: ['load_data_from_dicts_0', 'dummy_step_0'] GPUs: 0",
        "Stage 1: ['global_dummy_step_0'] GPUs: 0",
        "Stage 2: ['dummy_step_1'] GPUs: 0",
    ]


def test_plan_auto_prints_the_automatic_stages_and_why_each_starts_there(airflow_stack: AirflowDevStack) -> None:
    example = airflow_stack.dags_folder / "two_vllm_generations.py"
    done = airflow_stack.run_cli("dististage", "plan", str(example), "--auto", "--gpus", "1")
    assert done.stdout.splitlines() == [
        "DAG 'two_vllm_generations' (pipeline 'two-vllm-generations'): pool 'dististage_gpu' has 1 slot(s)",
        "load_groups='auto' for 1 GPU(s): 2 stage(s) (the DAG has 2):",
        "Stage 0: ['load_data_from_dicts_0', 'text_generation_0'] GPUs: 1 - fits the pool",
        "Stage 1: ['text_generation_1'] GPUs: 1 - fits the pool",
        "  stage 1 starts here because text_generation_1 needs 1 GPU(s) and stage 0 uses 1 of 1",
    ]
