"""claim_gpus: exclusive GPUs across processes, CUDA_VISIBLE_DEVICES, clear errors, bounded waits."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import stat
import tempfile
import time
from pathlib import Path

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime import BatchStore, StepExecution, gpus as gpus_module, lineage_fingerprints
from airflow_dististage.runtime.gpus import claim_gpus, host_gpus
from airflow_dististage.runtime.local import LOCAL_RUN_ID
from airflow_dististage.steps import StepResources
from tests.runtime.conftest import rows_of
from tests.runtime.steps_for_tests import AddOne, Numbers, RecordPid, replicated_pipeline


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


@pytest.fixture
def one_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that offers GPU 0 only, with its own lock folder."""
    monkeypatch.setenv("DISTISTAGE_GPUS", "0")
    monkeypatch.setenv("DISTISTAGE_GPU_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def _hold_gpu_for(seconds: float, ready) -> None:
    with claim_gpus(1) as gpus:
        ready.send(gpus)
        time.sleep(seconds)


@contextlib.contextmanager
def _gpu_held_elsewhere(seconds: float):
    """Another process holds one GPU for ``seconds``."""
    context = multiprocessing.get_context("fork")
    ready_child, ready_parent = context.Pipe()
    holder = context.Process(target=_hold_gpu_for, args=(seconds, ready_child))
    holder.start()
    try:
        ready_parent.recv()
        yield
    finally:
        holder.join(30)


def test_local_gpu_step_waits_for_a_busy_gpu_beyond_the_claim_timeout(
    one_gpu: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gpus_module, "DEFAULT_GPU_WAIT_SECONDS", 0.2)
    with _gpu_held_elsewhere(1.5):
        start = time.monotonic()
        rows = rows_of(replicated_pipeline(20, replicas=1, gpus=1).run(storage_parameters={"path": str(tmp_path)}))
    assert time.monotonic() - start > 1.0
    assert [row["n"] for row in rows] == list(range(20))
    assert {row["gpus"] for row in rows} == {"0"}


def test_resume_after_a_killed_run_does_not_mistake_old_heartbeats_for_dead_steps(
    one_gpu: None, tmp_path: Path
) -> None:
    """The GPU step's new process waits for its GPU while its successor checks it: still alive."""
    with Pipeline(name="resumed") as pipeline:
        (
            Numbers(name="gen", count=50, batch_size=10)
            >> RecordPid(name="gpu_step", input_batch_size=10, resources=StepResources(gpus=1))
            >> AddOne(name="after", input_batch_size=10)
        )
    plan = pipeline.plan()
    store = BatchStore(str(tmp_path), pipeline.name, LOCAL_RUN_ID)
    fingerprint = lineage_fingerprints(pipeline, plan)["gpu_step"]
    StepExecution(pipeline, plan, store, "gen").run()
    killed = {"generation": "0a", "attempt": 1, "heartbeat": time.time() - 1000}
    data = store.step("gpu_step", fingerprint)
    data.write_marker("started", killed)
    with _gpu_held_elsewhere(2.0):
        rows = rows_of(pipeline.run(storage_parameters={"path": str(tmp_path)}, heartbeat_timeout=10))
    assert [row["n"] for row in rows] == list(range(1, 51))
    assert data.read_marker("started")["attempt"] == 2


def test_gpu_uuids_are_passed_on_as_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTISTAGE_GPUS", "GPU-8a3b-01,MIG-GPU-8a3b/1/0")
    monkeypatch.setenv("DISTISTAGE_GPU_LOCK_DIR", str(tmp_path / "locks"))
    with claim_gpus(2) as gpus:
        assert gpus == ["GPU-8a3b-01", "MIG-GPU-8a3b/1/0"]
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "GPU-8a3b-01,MIG-GPU-8a3b/1/0"
    monkeypatch.setenv("DISTISTAGE_GPUS", "0,gpu zero")
    with pytest.raises(ValueError, match=r"\['gpu zero'\] is not a GPU index"):
        host_gpus()


def _group_or_world_writable(path: Path) -> bool:
    return bool(path.lstat().st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def test_lock_folder_and_files_belong_to_the_workers_user_alone(one_gpu: None, tmp_path: Path) -> None:
    with claim_gpus(1):
        pass
    folder = tmp_path / "locks"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "gpu-0.lock").stat().st_mode) == 0o600
    created = [folder, *folder.rglob("*")]
    assert all(path.lstat().st_uid == os.getuid() for path in created)
    assert not any(_group_or_world_writable(path) for path in created)


def test_the_default_folder_is_the_users_own(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DISTISTAGE_GPUS", "0")
    monkeypatch.delenv("DISTISTAGE_GPU_LOCK_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    with claim_gpus(1):
        pass
    (folder,) = tmp_path.iterdir()
    assert folder.name == f"airflow_dististage_gpu_locks-{os.getuid()}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_symlink_planted_for_a_lock_file_is_not_followed(one_gpu: None, tmp_path: Path) -> None:
    folder = tmp_path / "locks"
    folder.mkdir(mode=0o700)
    target = tmp_path / "precious"
    target.write_text("keep me")
    target.chmod(0o640)
    (folder / "gpu-0.lock").symlink_to(target)

    with pytest.raises(PermissionError, match=r"gpu-0\.lock is a symbolic link.*Remove it"):
        with claim_gpus(1, timeout=1):
            pass
    assert target.read_text() == "keep me"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_symlinked_lock_folder_is_refused(one_gpu: None, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "locks").symlink_to(elsewhere)

    with pytest.raises(PermissionError, match=r"locks is a symbolic link"):
        with claim_gpus(1, timeout=1):
            pass
    assert list(elsewhere.iterdir()) == []


def test_a_lock_folder_of_another_user_is_refused(one_gpu: None, tmp_path: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("making a folder owned by another user needs root")
    folder = tmp_path / "locks"
    folder.mkdir(mode=0o700)
    os.chown(folder, 65534, 65534)

    with pytest.raises(PermissionError, match=rf"{folder} is owned by uid 65534, not by this worker's uid {os.getuid()}.*DISTISTAGE_GPU_LOCK_DIR"):
        with claim_gpus(1, timeout=1):
            pass
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("mode", [0o770, 0o1777, 0o702])
def test_a_lock_folder_others_can_write_is_refused(one_gpu: None, tmp_path: Path, mode: int) -> None:
    folder = tmp_path / "locks"
    folder.mkdir()
    folder.chmod(mode)

    with pytest.raises(PermissionError, match=rf"{folder} is writable by its group or other users .*chmod 700"):
        with claim_gpus(1, timeout=1):
            pass
    assert list(folder.iterdir()) == []
    assert stat.S_IMODE(folder.stat().st_mode) == mode


def test_a_zero_timeout_is_reported_as_zero(one_gpu: None) -> None:
    with _gpu_held_elsewhere(1.0):
        with pytest.raises(TimeoutError, match=r"within 0 s"):
            with claim_gpus(1, timeout=0):
                pass


def test_auto_load_groups_plan_for_the_hosts_gpus(two_gpus: None, tmp_path: Path, caplog) -> None:
    """Three 1-GPU steps on a two-GPU host: two run in the first stage, the third in a stage of its own."""
    with Pipeline(name="auto-gpus") as pipeline:
        numbers = Numbers(name="gen", count=30, batch_size=10)
        for name in ("gpu_a", "gpu_b", "gpu_c"):
            numbers >> RecordPid(name=name, input_batch_size=10, resources=StepResources(gpus=1))
    caplog.set_level("INFO", logger="airflow_dististage.runtime")

    distiset = pipeline.run(load_groups="auto", storage_parameters={"path": str(tmp_path / "store")})

    started = [record.getMessage() for record in caplog.records if record.getMessage().startswith("stage ")]
    assert [message.split(":")[0] for message in started] == ["stage 0", "stage 1"]
    assert "'gpu_a'" in started[0] and "'gpu_b'" in started[0] and "'gpu_c'" in started[1]
    for name in ("gpu_a", "gpu_b", "gpu_c"):
        rows = rows_of(distiset, name)
        assert [row["n"] for row in rows] == list(range(30))
        assert {row["gpus"] for row in rows} <= {"0", "1"}
