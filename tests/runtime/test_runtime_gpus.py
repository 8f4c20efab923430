"""claim_gpus: exclusive GPUs across processes, CUDA_VISIBLE_DEVICES, clear errors, bounded waits."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from airflow_dististage.runtime.gpus import claim_gpus
from tests.runtime.conftest import rows_of
from tests.runtime.steps_for_tests import replicated_pipeline


@pytest.fixture
def two_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that offers GPUs 0 and 1, with its own lock folder."""
    monkeypatch.setenv("DISTISTAGE_GPUS", "0,1")
    monkeypatch.setenv("DISTISTAGE_GPU_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_zero_gpus_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "untouched")
    with claim_gpus(0) as gpus:
        assert gpus == []
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "untouched"


def test_claim_sets_and_restores_cuda_visible_devices(two_gpus: None) -> None:
    with claim_gpus(2) as gpus:
        assert gpus == [0, 1]
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_more_gpus_than_the_host_has_is_a_clear_error(two_gpus: None) -> None:
    with pytest.raises(ValueError, match="needs 3 GPU"):
        with claim_gpus(3):
            pass


def _hold_gpu(ready, release) -> None:
    with claim_gpus(1) as gpus:
        ready.send(gpus)
        release.recv()


def test_two_processes_never_share_a_gpu_and_waits_are_bounded(two_gpus: None) -> None:
    context = multiprocessing.get_context("fork")
    ready_child, ready_parent = context.Pipe()
    release_parent, release_child = context.Pipe()
    holder = context.Process(target=_hold_gpu, args=(ready_child, release_child))
    holder.start()
    try:
        held_by_child = ready_parent.recv()
        with claim_gpus(1, timeout=5) as mine:
            assert mine != held_by_child
            with pytest.raises(TimeoutError, match="No 1 free GPU"):
                with claim_gpus(1, timeout=0.5):
                    pass
    finally:
        release_parent.send("done")
        holder.join(10)
    with claim_gpus(2, timeout=5) as both:
        assert both == [0, 1]


def test_gpu_replicas_wait_for_a_free_gpu_instead_of_failing(two_gpus: None, tmp_path: Path) -> None:
    """Three replicas needing one GPU each on a two-GPU host: the third waits for a free GPU, all finish."""
    pipeline = replicated_pipeline(60, replicas=3, gpus=1)
    rows = rows_of(pipeline.run(storage_parameters={"path": str(tmp_path / "store")}))
    assert [row["n"] for row in rows] == list(range(60))
    assert {row["gpus"] for row in rows} <= {"0", "1"}
