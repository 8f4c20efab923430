"""``safe_folder_name``: one folder name per run id, pipeline name or DAG id.

Kept apart from the store (no pyarrow, no fsspec) because DAG files use it while they are parsed.
"""

from __future__ import annotations

import hashlib
import re

_SAFE_CHARACTER = re.compile(r"[A-Za-z0-9_.-]")
MAX_FOLDER_NAME_CHARACTERS = 200
"""Longer escaped names are shortened (filesystems allow 255 bytes per name)."""
_KEPT_CHARACTERS = 150


def safe_folder_name(name: str) -> str:
    """An injective, filesystem- and URL-safe folder name for a run id, pipeline name or DAG id.

    Letters, digits, ``_``, ``.`` and ``-`` stay; every other character (``~`` included) becomes
    ``~`` plus the hex of its UTF-8 bytes, and a name made of dots only is escaped whole. So
    ``manual__2026-11-25T19:00:00+00:00`` -> ``manual__2026-11-25T19~3a00~3a00~2b00~3a00`` and
    ``Social AI Personas`` -> ``Social~20AI~20Personas``: two different names never share a folder,
    because ``~`` only ever starts an escape. An escaped name longer than 200 characters keeps its
    first 150 and ends with ``~~`` and a SHA-256 prefix of the name (``~~`` never occurs otherwise).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"A run id, pipeline name or DAG id must be a non-empty string, got {name!r}.")
    if set(name) == {"."}:
        folder = "".join(_escape(character) for character in name)
    else:
        folder = "".join(character if _SAFE_CHARACTER.fullmatch(character) else _escape(character) for character in name)
    if len(folder) > MAX_FOLDER_NAME_CHARACTERS:
        folder = f"{folder[:_KEPT_CHARACTERS]}~~{hashlib.sha256(name.encode()).hexdigest()[:40]}"
    return folder


def _escape(character: str) -> str:
    return "".join(f"~{byte:02x}" for byte in character.encode("utf-8"))
