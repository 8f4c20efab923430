"""``claim_gpus``: exclusive GPUs for one step execution, shared fairly between processes of a host.

Each GPU has a lock file; a claim holds ``flock`` on the files of the GPUs it got, so two processes
on one host never hold the same GPU, and a process that dies releases its GPUs with its file
descriptors. The host's GPUs are, in order of precedence: ``DISTISTAGE_GPUS`` (comma-separated
indices, e.g. for a share of a machine), ``CUDA_VISIBLE_DEVICES``, or what ``nvidia-smi -L`` lists.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

logger = logging.getLogger("airflow_dististage.runtime")

DEFAULT_GPU_WAIT_SECONDS = 3600.0
_POLL_SECONDS = 0.2


def host_gpus() -> list[int]:
    """The GPU indices this host offers to steps (see the module docstring)."""
    for variable in ("DISTISTAGE_GPUS", "CUDA_VISIBLE_DEVICES"):
        value = os.environ.get(variable)
        if value is not None:
            entries = [gpu.strip() for gpu in value.split(",") if gpu.strip()]
            if not all(entry.isdigit() for entry in entries):
                raise ValueError(f"{variable}={value!r}: list GPUs by index (e.g. '0,1'), not by UUID.")
            return [int(entry) for entry in entries]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    return [index for index, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU ")]


def _lock_dir() -> str:
    folder = os.environ.get("DISTISTAGE_GPU_LOCK_DIR") or os.path.join(
        tempfile.gettempdir(), "airflow_dististage_gpu_locks"
    )
    os.makedirs(folder, exist_ok=True)
    return folder


def _try_lock(path: str) -> int | None:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
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
def claim_gpus(count: int, timeout: float | None = None) -> Iterator[list[int]]:
    """Holds ``count`` GPUs of this host; sets ``CUDA_VISIBLE_DEVICES`` to them while held.

    Waits for free GPUs (at most ``timeout`` seconds, default one hour); ``count == 0`` claims
    nothing and changes nothing.

    Raises:
        ValueError: ``count`` is negative or exceeds the host's GPUs.
        TimeoutError: not enough GPUs became free in time.
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
    folder = _lock_dir()
    deadline = time.monotonic() + (DEFAULT_GPU_WAIT_SECONDS if timeout is None else timeout)
    waiting_logged = False
    while True:
        held: list[int] = []
        claimed: list[int] = []
        for gpu in gpus:
            descriptor = _try_lock(os.path.join(folder, f"gpu-{gpu}.lock"))
            if descriptor is not None:
                held.append(descriptor)
                claimed.append(gpu)
                if len(claimed) == count:
                    break
        if len(claimed) == count:
            break
        _release(held)
        if time.monotonic() >= deadline:
            raise TimeoutError(f"No {count} free GPU(s) among {gpus} within {timeout or DEFAULT_GPU_WAIT_SECONDS} s.")
        if not waiting_logged:
            logger.info("waiting for %d free GPU(s) among %s", count, gpus)
            waiting_logged = True
        time.sleep(_POLL_SECONDS)
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
