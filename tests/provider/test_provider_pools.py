"""How many slots ``pools sync`` gives the GPU pool, and how ``plan`` judges a stage against a pool."""

from __future__ import annotations

import argparse

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.provider.commands import requested_auto_gpus, stage_verdict
from airflow_dististage.provider.pools import NoGpusFoundError, PoolSize, resolve_gpu_count
from airflow_dististage.steps import LoadDataFromDicts, StepInput, StepResources, step
from airflow_dististage.typing import StepOutput


@step(inputs=["text"], outputs=["text"])
def Echo(inputs: StepInput) -> StepOutput:
    yield inputs


def _plan():
    with Pipeline(name="gpu-plan") as pipeline:
        source = LoadDataFromDicts(data=[{"text": "a"}])
        source >> Echo(name="cpu")
        source >> Echo(name="one_gpu", resources=StepResources(gpus=1))
        source >> Echo(name="two_replicas", resources=StepResources(gpus=2, replicas=2))
    return pipeline.plan(load_groups=[["load_data_from_dicts_0", "cpu"], ["one_gpu"], ["two_replicas"]])


def test_explicit_count_wins_and_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTISTAGE_GPUS", "")
    assert resolve_gpu_count(3) == 3
    with pytest.raises(ValueError, match="--gpus must be at least 1, got 0"):
        resolve_gpu_count(0)


def test_count_comes_from_the_gpus_the_host_offers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTISTAGE_GPUS", "0,1,3")
    assert resolve_gpu_count(None) == 3


def test_no_gpu_and_no_count_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTISTAGE_GPUS", "")
    with pytest.raises(NoGpusFoundError, match="pools sync --gpus N"):
        resolve_gpu_count(None)


@pytest.mark.parametrize(
    ("slots", "verdicts"),
    [
        (None, ["", "never runs: a task needs 1 GPU(s), pool 'gpu' does not exist", "never runs"]),
        (1, ["", "fits the pool", "never runs: a task needs 2 GPU(s), pool 'gpu' has 1 slot(s)"]),
        (2, ["", "fits the pool", "GPU tasks take turns: pool 'gpu' has 2 slot(s)"]),
        (4, ["", "fits the pool", "fits the pool"]),
    ],
)
def test_stage_verdict_against_pool_size(slots: int | None, verdicts: list[str]) -> None:
    plan = _plan()
    assert [stage.gpus for stage in plan.stages] == [0, 1, 4]
    pool = PoolSize(name="gpu", slots=slots)
    for stage, expected in zip(plan.stages, verdicts):
        text, can_run = stage_verdict(stage, plan, pool)
        assert expected in text if expected else text == ""
        assert can_run == ("never runs" not in expected)


def test_plan_takes_gpus_with_auto_only_and_else_the_gpus_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__DISTISTAGE__GPUS", raising=False)
    assert requested_auto_gpus(argparse.Namespace(auto=False, gpus=None)) is None
    assert requested_auto_gpus(argparse.Namespace(auto=True, gpus=3)) == 3
    with pytest.raises(SystemExit, match="--gpus goes with --auto"):
        requested_auto_gpus(argparse.Namespace(auto=False, gpus=3))
    with pytest.raises(SystemExit, match=r"--gpus N to `airflow dististage plan`"):
        requested_auto_gpus(argparse.Namespace(auto=True, gpus=None))
    monkeypatch.setenv("AIRFLOW__DISTISTAGE__GPUS", "8")
    assert requested_auto_gpus(argparse.Namespace(auto=True, gpus=None)) == 8
