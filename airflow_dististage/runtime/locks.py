"""``hold_step_locks``: one live computation per step output on this machine.

Two ``pipeline.run()`` calls that need the same step output (same pipeline name, same step,
same lineage, same store) would otherwise write it at once. Each output replica has a lock
file, held with ``flock`` while a local run computes it, so the second run waits for the first
and then reuses what it made; a process that dies releases its locks with its descriptors.
The lock files live in ``<temp dir>/airflow_dististage_step_locks-<uid>``, a folder only this
user can write (see :mod:`~airflow_dististage.runtime.private_files`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator

from airflow_dististage.runtime.private_files import open_lock_file, open_private_folder

logger = logging.getLogger("airflow_dististage.runtime")

_LABEL = "step lock"
_ADVICE = "Remove it: it is recreated for this user."
_POLL_SECONDS = 0.2
_LOG_SECONDS = 30.0


@contextlib.contextmanager
def hold_step_locks(keys: Iterable[str], description: str) -> Iterator[None]:
    """Holds the lock of every key (in sorted order, so two runs never deadlock), waiting for
    locks another live process holds; logs who holds them every 30 s while it waits.

    Child processes forked while the locks are held share them (they share the descriptors).
    """
    folder_path = os.path.join(tempfile.gettempdir(), f"airflow_dististage_step_locks-{os.getuid()}")
    folder = open_private_folder(folder_path, _LABEL, _ADVICE)
    held: list[int] = []
    try:
        for key in sorted(set(keys)):
            path = os.path.join(folder_path, hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock")
            descriptor = open_lock_file(folder, path, _LABEL)
            held.append(descriptor)
            _wait_for_lock(descriptor, key, description)
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, json.dumps({"pid": os.getpid(), "since": time.time(), "what": key}).encode(), 0)
        yield
    finally:
        for descriptor in held:
            os.close(descriptor)  # closing the last descriptor of the file releases its flock
        os.close(folder)


def _wait_for_lock(descriptor: int, key: str, description: str) -> None:
    next_log = time.monotonic()
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if time.monotonic() >= next_log:
            holder = os.pread(descriptor, 4096, 0).decode(errors="replace") or "{}"
            logger.warning(
                "%s: %s is being computed by another live run (%s); waiting for it to finish.",
                description, key, holder,
            )
            next_log = time.monotonic() + _LOG_SECONDS
        time.sleep(_POLL_SECONDS)
