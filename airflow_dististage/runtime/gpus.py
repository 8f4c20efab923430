"""``claim_gpus``: exclusive GPUs for one step execution, shared fairly between processes of a host.

Each GPU has a lock file; a claim holds ``flock`` on the files of the GPUs it got, so two processes
on one host never hold the same GPU, and a process that dies releases its GPUs with its file
descriptors. The host's GPUs are, in order of precedence: ``DISTISTAGE_GPUS`` (comma-separated
indices or GPU/MIG UUIDs, e.g. for a share of a machine), ``CUDA_VISIBLE_DEVICES``, or what
``nvidia-smi -L`` lists. Indices are ints, UUIDs stay strings; either is passed on unchanged in
``CUDA_VISIBLE_DEVICES``.

The lock folder is ``$DISTISTAGE_GPU_LOCK_DIR``, else ``<temp dir>/airflow_dististage_gpu_locks-<uid>``:
every process of one user on a host shares it. It must belong to the current user and be writable
by no one else, else claims are refused (another user could hold every lock, or plant links that
make a worker create files elsewhere). Lock files are opened relative to the checked folder, never
through a symbolic link, and created ``0o600``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from airflow_dististage.runtime.private_files import open_lock_file, open_private_folder

logger = logging.getLogger("airflow_dististage.runtime")

DEFAULT_GPU_WAIT_SECONDS = 3600.0
WAIT_LOG_SECONDS = 300.0
"""A claim that waits logs that it still waits this often."""
_POLL_SECONDS = 0.2
_UUID = re.compile(r"(GPU|MIG)-[A-Za-z0-9/_.-]+")
_UNSAFE_FILE_CHARACTERS = re.compile(r"[^A-Za-z0-9_.-]")

GpuId = int | str
"""A GPU as ``CUDA_VISIBLE_DEVICES`` names it: an index, or a ``GPU-...``/``MIG-...`` UUID."""


def host_gpus() -> list[GpuId]:
    """The GPUs this host offers to steps (see the module docstring)."""
    for variable in ("DISTISTAGE_GPUS", "CUDA_VISIBLE_DEVICES"):
        value = os.environ.get(variable)
        if value is not None:
            entries = [gpu.strip() for gpu in value.split(",") if gpu.strip()]
            bad = [entry for entry in entries if not entry.isdigit() and not _UUID.fullmatch(entry)]
            if bad:
                raise ValueError(
                    f"{variable}={value!r}: {bad} is not a GPU index (e.g. '0,1') or UUID ('GPU-...', 'MIG-...')."
                )
            return [int(entry) if entry.isdigit() else entry for entry in entries]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    return [index for index, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU ")]


def gpus_to_claim(step: Any, declared: int) -> int:
    """The GPUs one replica of ``step`` claims in this step process: ``declared``, or none (after one
    warning) on a host without GPUs where the step's LLM runs on the CPU whatever it declares (vLLM's
    CPU build). A host with GPUs is never asked: the LLM's library must not load before the claim
    sets ``CUDA_VISIBLE_DEVICES``."""
    llm = getattr(step, "llm", None)
    if not declared or llm is None or host_gpus() or not llm.runs_on_cpu():
        return declared
    logger.warning(
        "Step %r declares %d GPU(s) per replica, but its %s runs on the CPU here: it claims none.",
        step.name, declared, type(llm).__name__,
    )
    return 0


_LABEL = "GPU lock"
_LOCK_DIR_ADVICE = "Remove it, or set DISTISTAGE_GPU_LOCK_DIR to a folder of this user with mode 0o700."


def _lock_dir_path() -> str:
    return os.environ.get("DISTISTAGE_GPU_LOCK_DIR") or os.path.join(
        tempfile.gettempdir(), f"airflow_dististage_gpu_locks-{os.getuid()}"
    )


def _lock_name(gpu: GpuId) -> str:
    return f"gpu-{_UNSAFE_FILE_CHARACTERS.sub('_', str(gpu))}.lock"


def _try_lock(folder: int, path: str) -> int | None:
    descriptor = open_lock_file(folder, path, _LABEL)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def _release(descriptors: list[int]) -> None:
    for descriptor in descriptors:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


@contextlib.contextmanager
def claim_gpus(count: int, timeout: float | None = None) -> Iterator[list[GpuId]]:
    """Holds ``count`` GPUs of this host; sets ``CUDA_VISIBLE_DEVICES`` to them while held.

    Waits for free GPUs (at most ``timeout`` seconds, default one hour; ``math.inf`` waits as
    long as it takes), logging every ``WAIT_LOG_SECONDS``; ``count == 0`` claims nothing and
    changes nothing.

    Raises:
        ValueError: ``count`` is negative or exceeds the host's GPUs.
        TimeoutError: not enough GPUs became free in time.
        PermissionError: the lock folder or a lock file is not safe to use (see the module docstring).
    """
    if not isinstance(count, int) or count < 0:
        raise ValueError(f"GPU count must be an integer >= 0, got {count!r}.")
    if count == 0:
        yield []
        return
    gpus = host_gpus()
    if count > len(gpus):
        raise ValueError(
            f"A step needs {count} GPU(s) but this host has {len(gpus)} ({gpus or 'none'});"
            " lower StepResources(gpus=...) or run it on a bigger machine."
        )
    limit = DEFAULT_GPU_WAIT_SECONDS if timeout is None else timeout
    began = time.monotonic()
    next_log = began
    folder_path = _lock_dir_path()
    folder = open_private_folder(folder_path, _LABEL, _LOCK_DIR_ADVICE)
    try:
        while True:
            held: list[int] = []
            claimed: list[GpuId] = []
            try:
                for gpu in gpus:
                    descriptor = _try_lock(folder, os.path.join(folder_path, _lock_name(gpu)))
                    if descriptor is not None:
                        held.append(descriptor)
                        claimed.append(gpu)
                        if len(claimed) == count:
                            break
            except BaseException:
                _release(held)
                raise
            if len(claimed) == count:
                break
            _release(held)
            now = time.monotonic()
            if now - began >= limit:
                raise TimeoutError(f"No {count} free GPU(s) among {gpus} within {limit} s.")
            if now >= next_log:
                logger.info("waiting for %d free GPU(s) among %s (%.0f s so far)", count, gpus, now - began)
                next_log = now + WAIT_LOG_SECONDS
            time.sleep(_POLL_SECONDS)
    finally:
        os.close(folder)
    previous = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, claimed))
    try:
        yield claimed
    finally:
        if previous is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = previous
        _release(held)
