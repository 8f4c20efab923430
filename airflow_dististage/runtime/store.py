"""The durable batch store: immutable Arrow parts and small JSON markers on any fsspec filesystem.

Layout of one run::

    <url>/<pipeline>/<run>/<step>/parts/000000042.arrow   output batch 42 (written atomically)
    <url>/<pipeline>/<run>/<step>/markers/started-0.json  replica 0: attempt, heartbeat, progress
    <url>/<pipeline>/<run>/<step>/markers/finished-0.json replica 0: batches, rows, fingerprint
    <url>/<pipeline>/<run>/<step>/markers/failed-0.json   replica 0: error text

A local folder gets write-to-temp-then-rename; other filesystems get one ``put`` per file, which
object stores apply atomically. Readers therefore never see a partial part or marker.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from airflow_dististage.runtime.encoding import decode_rows, encode_rows
from airflow_dististage.steps.base import validate_step_name

_SAFE_CHARACTER = re.compile(r"[A-Za-z0-9_.-]")
_PART_SUFFIX = ".arrow"
_SEQUENCE_DIGITS = 9
MARKER_KINDS = ("started", "finished", "failed")


def safe_folder_name(name: str) -> str:
    """An injective, filesystem- and URL-safe folder name for a run id, pipeline name or DAG id.

    Letters, digits, ``_``, ``.`` and ``-`` stay; every other character (``~`` included) becomes
    ``~`` plus the hex of its UTF-8 bytes, and a name made of dots only is escaped whole. So
    ``manual__2026-11-25T19:00:00+00:00`` -> ``manual__2026-11-25T19~3a00~3a00~2b00~3a00`` and
    ``Social AI Personas`` -> ``Social~20AI~20Personas``: two different names never share a folder,
    because ``~`` only ever starts an escape.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"A run id, pipeline name or DAG id must be a non-empty string, got {name!r}.")
    if set(name) == {"."}:
        return "".join(_escape(character) for character in name)
    return "".join(character if _SAFE_CHARACTER.fullmatch(character) else _escape(character) for character in name)


def _escape(character: str) -> str:
    return "".join(f"~{byte:02x}" for byte in character.encode("utf-8"))


def part_name(sequence: int) -> str:
    """File name of output batch ``sequence``: zero-padded so names sort in sequence order."""
    return f"{sequence:0{_SEQUENCE_DIGITS}d}{_PART_SUFFIX}"


class BatchStore:
    """Where a pipeline run's batches and step markers live.

    Args:
        url: a local folder or an fsspec URL (``memory://``, ``s3://bucket/prefix``, ...).
        pipeline_name: the pipeline's name or DAG id (one folder per pipeline, see :func:`safe_folder_name`).
        run_id: the run's id; Airflow ids such as ``manual__2026-11-25T19:00:00+00:00`` are accepted.
        storage_options: passed to the fsspec filesystem (credentials, endpoint, ...).
    """

    def __init__(
        self,
        url: str,
        pipeline_name: str,
        run_id: str,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.url = str(url)
        self.pipeline_name = pipeline_name
        self.run_id = run_id
        self.storage_options = dict(storage_options or {})
        self.fs, root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        self._local = isinstance(self.fs, LocalFileSystem)
        root = os.path.abspath(root) if self._local else root.rstrip("/")
        self.run_path = f"{root}/{safe_folder_name(pipeline_name)}/{safe_folder_name(run_id)}"

    def __repr__(self) -> str:
        return f"BatchStore(url={self.url!r}, pipeline_name={self.pipeline_name!r}, run_id={self.run_id!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (BatchStore, (self.url, self.pipeline_name, self.run_id, self.storage_options))

    # -- paths ---------------------------------------------------------------------------
    def step_path(self, step: str) -> str:
        """Folder of ``step``'s data; the name is validated so no path leaves the run folder."""
        try:
            validate_step_name(step)
        except ValueError:
            raise ValueError(
                f"Invalid step name {step!r} for the batch store: use letters, digits, '_', '-'."
            ) from None
        return f"{self.run_path}/{step}"

    def _part_path(self, step: str, sequence: int) -> str:
        if not isinstance(sequence, int) or sequence < 0:
            raise ValueError(f"Step {step!r}: part sequence must be an integer >= 0, got {sequence!r}.")
        return f"{self.step_path(step)}/parts/{part_name(sequence)}"

    def _marker_path(self, step: str, kind: str, replica: int) -> str:
        if kind not in MARKER_KINDS:
            raise ValueError(f"Unknown marker kind {kind!r}; expected one of {MARKER_KINDS}.")
        return f"{self.step_path(step)}/markers/{kind}-{int(replica)}.json"

    # -- atomic writes ---------------------------------------------------------------------
    def _write_atomic(self, path: str, data: bytes) -> None:
        if not self._local:
            self.fs.pipe_file(path, data)
            return
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        temporary = f"{folder}/.{os.path.basename(path)}.{uuid.uuid4().hex}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)

    def _read(self, path: str) -> bytes | None:
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None

    # -- parts ---------------------------------------------------------------------------
    def write_part(self, step: str, sequence: int, rows: list[dict[str, Any]]) -> None:
        """Writes output batch ``sequence`` of ``step``; rewriting it with the same rows is harmless."""
        self._write_atomic(self._part_path(step, sequence), encode_rows(rows))

    def read_part(self, step: str, sequence: int) -> list[dict[str, Any]] | None:
        """Rows of part ``sequence``, or None while it does not exist."""
        data = self._read(self._part_path(step, sequence))
        return None if data is None else decode_rows(data)

    def read_part_bytes(self, step: str, sequence: int) -> bytes | None:
        """Raw Arrow IPC bytes of part ``sequence`` (None while it does not exist)."""
        return self._read(self._part_path(step, sequence))

    def part_sequences(self, step: str) -> list[int]:
        """Sequence numbers of ``step``'s committed parts, ascending (never a cached listing)."""
        folder = f"{self.step_path(step)}/parts"
        self.fs.invalidate_cache(folder)  # s3fs/gcsfs would otherwise answer from an old listing
        try:
            names = self.fs.ls(folder, detail=False)
        except FileNotFoundError:
            return []
        sequences = []
        for name in names:
            base = name.rstrip("/").rsplit("/", 1)[-1]
            if base.endswith(_PART_SUFFIX) and base[: -len(_PART_SUFFIX)].isdigit():
                sequences.append(int(base[: -len(_PART_SUFFIX)]))
        return sorted(sequences)

    def delete_parts(self, step: str, sequences: list[int]) -> None:
        """Removes the given parts of ``step`` (used when its cached output is stale)."""
        for sequence in sequences:
            try:
                self.fs.rm_file(self._part_path(step, sequence))
            except FileNotFoundError:
                pass

    # -- markers -------------------------------------------------------------------------
    def write_marker(self, step: str, kind: str, payload: dict[str, Any], replica: int = 0) -> None:
        """Publishes a ``started``/``finished``/``failed`` marker of one replica of ``step``."""
        self._write_atomic(self._marker_path(step, kind, replica), json.dumps(payload, sort_keys=True).encode())

    def read_marker(self, step: str, kind: str, replica: int = 0) -> dict[str, Any] | None:
        """The marker's payload, or None when it was not published."""
        data = self._read(self._marker_path(step, kind, replica))
        return None if data is None else json.loads(data)

    def delete_marker(self, step: str, kind: str, replica: int = 0) -> None:
        """Withdraws a marker (a new attempt withdraws the previous attempt's ``failed``)."""
        try:
            self.fs.rm_file(self._marker_path(step, kind, replica))
        except FileNotFoundError:
            pass

    # -- whole steps and runs -----------------------------------------------------------------
    def clear_step(self, step: str) -> None:
        """Removes everything ``step`` wrote in this run."""
        path = self.step_path(step)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def clear_run(self) -> None:
        """Removes the whole run folder."""
        if self.fs.exists(self.run_path):
            self.fs.rm(self.run_path, recursive=True)
