"""Lock folders and lock files that no other local user can tamper with.

A folder shared with other users (``/tmp`` itself, or one they can write) lets them hold every
lock, or plant symbolic links that make a worker create files elsewhere. These helpers create a
folder ``0o700``, refuse one that is a link, another user's or writable by group or others, and
open lock files relative to the checked folder, never through a link, created ``0o600``.
"""

from __future__ import annotations

import os
import stat


def open_private_folder(folder: str, label: str, advice: str) -> int:
    """A descriptor of ``folder`` (created ``0o700``), once it is checked to be this user's alone.

    ``label`` names the folder in errors (e.g. ``"GPU lock"``); ``advice`` says how to fix it.

    Raises:
        PermissionError: the folder is a symbolic link, not a folder, another user's, or writable
            by its group or other users.
    """
    os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise _unusable(f"{label} folder", folder, error, advice) from None
    status = os.fstat(descriptor)
    problem = None
    if status.st_uid != os.getuid():
        problem = (
            f"is owned by uid {status.st_uid}, not by this worker's uid {os.getuid()}: that user could hold"
            f" or fake every lock. {advice}"
        )
    elif status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = (
            f"is writable by its group or other users (mode {stat.S_IMODE(status.st_mode):#o}): they could hold"
            f" or fake locks. Run `chmod 700 {folder}`, or: {advice}"
        )
    if problem is not None:
        os.close(descriptor)
        raise PermissionError(f"{label} folder {folder} {problem}")
    return descriptor


def open_lock_file(folder: int, path: str, label: str) -> int:
    """A read-write descriptor of the lock file ``path``, opened inside the checked ``folder`` descriptor.

    ``O_NONBLOCK`` keeps a FIFO in place of the file from blocking the open; it is then refused.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        descriptor = os.open(os.path.basename(path), flags, 0o600, dir_fd=folder)
    except OSError as error:
        raise _unusable(f"{label} file", path, error, "Remove it.") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise PermissionError(f"{label} file {path} is not a regular file. Remove it.")
    return descriptor


def _unusable(what: str, path: str, error: OSError, advice: str) -> PermissionError:
    """The error for a folder or file that cannot be opened safely."""
    if os.path.islink(path):  # O_NOFOLLOW refused it (ELOOP, or ENOTDIR with O_DIRECTORY)
        return PermissionError(f"{what} {path} is a symbolic link; refusing to follow it. {advice}")
    return PermissionError(f"{what} {path} cannot be opened safely ({error.strerror}). {advice}")
