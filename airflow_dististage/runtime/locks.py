"""``hold_step_locks``: one live computation per step output on this machine.

Two ``pipeline.run()`` calls that need the same step output (same pipeline name, same step,
same lineage, same store) would otherwise write it at once. Each output replica has a lock
file, held with ``flock`` while a local run computes it, so the second run waits for the first
and then reuses what it made; a process that dies releases its locks with its descriptors.
The lock files live in a folder only this user can write (see :func:`private_folder`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator

logger = logging.getLogger("airflow_dististage.runtime")

_POLL_SECONDS = 0.2
_LOG_SECONDS = 30.0


def private_folder(name: str) -> str:
    """``<tmp>/<name>-<uid>``, created with mode 0o700; refused when another user could write it.

    Raises:
        PermissionError: the folder is a symlink, is owned by another user, or is writable by
            group or others (someone else could plant files there).
    """
    folder = os.path.join(tempfile.gettempdir(), f"{name}-{os.getuid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    check_private_folder(folder)
    return folder


def check_private_folder(folder: str) -> None:
    """Raises ``PermissionError`` unless ``folder`` is a real folder of this user that only it can write."""
    info = os.lstat(folder)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"{folder!r} is not a plain folder (a symlink?): remove it and try again.")
    if info.st_uid != os.getuid():
        raise PermissionError(
            f"{folder!r} belongs to uid {info.st_uid}, not to this user ({os.getuid()}): remove it or choose another."
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(
            f"{folder!r} is writable by group or others (mode {stat.S_IMODE(info.st_mode):o}):"
            f" run chmod 700 {folder!r}."
        )


def _open_lock(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


@contextlib.contextmanager
def hold_step_locks(keys: Iterable[str], description: str) -> Iterator[None]:
    """Holds the lock of every key (in sorted order, so two runs never deadlock), waiting for
    locks another live process holds; logs who holds them every 30 s while it waits.

    Child processes forked while the locks are held share them (they share the descriptors).
    """
    folder = os.path.join(private_folder("airflow_dististage"), "step-locks")
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    check_private_folder(folder)
    held: list[int] = []
    try:
        for key in sorted(set(keys)):
            path = os.path.join(folder, hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock")
            descriptor = _open_lock(path)
            held.append(descriptor)
            _wait_for_lock(descriptor, key, description)
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, json.dumps({"pid": os.getpid(), "since": time.time(), "what": key}).encode(), 0)
        yield
    finally:
        for descriptor in held:
            os.close(descriptor)  # closing the last descriptor of the file releases its flock


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
