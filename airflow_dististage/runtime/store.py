"""The durable batch store: immutable Arrow parts and small JSON markers on any fsspec filesystem.

Layout of one run::

    <url>/<pipeline>/<run>/<step>/<lineage>/parts/000000042.<generation>.arrow  output batch 42
    <url>/<pipeline>/<run>/<step>/<lineage>/markers/started-0.json   replica 0: generation, heartbeat, progress
    <url>/<pipeline>/<run>/<step>/<lineage>/markers/finished-0.json  replica 0: generation, batches, rows
    <url>/<pipeline>/<run>/<step>/<lineage>/markers/failed-0.json    replica 0: generation, error text

``<lineage>`` is the hash of the step's code, configuration and everything upstream of it, so two
pipelines that share a name but differ in a step never share that step's files. A *generation* is
one computation of one replica's output: a recomputation (a Clear in Airflow, ``use_cache=False``,
a recomputed input) writes parts under a new generation name, so a reader that follows one
generation can never mix in a part of another.

Every file is written atomically: a local folder gets write-to-temp, fsync, rename and an fsync of
the folder; object stores get one ``put`` per object, which they apply atomically; any other
filesystem gets write-to-temp then move (where such a filesystem cannot rename onto a file, a
rewritten marker is briefly absent, which readers take for "not yet"). Readers therefore never see
a partial part or marker.

An object store may take its credentials and endpoint from an Airflow connection (``conn_id``): the
filesystem is then the provider's (``ObjectStoragePath(url, conn_id=...).fs``), resolved on first use
in the process that uses it, so a pickled store carries the connection's id, never its secrets.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

import fsspec
from fsspec.implementations.local import LocalFileSystem

from airflow_dististage.runtime.column_types import ColumnTypes, encode_part
from airflow_dististage.runtime.encoding import PartEncodingError, decode_table, part_schema, table_to_rows
from airflow_dististage.runtime.folders import safe_folder_name
from airflow_dististage.steps.base import validate_step_name

_PART_SUFFIX = ".arrow"
_SEQUENCE_DIGITS = 9
_GENERATION = re.compile(r"[0-9a-f]{1,64}")
MARKER_KINDS = ("started", "finished", "failed")
ATOMIC_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "oss", "memory"})
"""Filesystems whose single ``put`` of an object is atomic; others get a temporary name and a move."""


def part_name(sequence: int, generation: str) -> str:
    """File name of output batch ``sequence`` of ``generation``: zero-padded so names sort in sequence order."""
    return f"{sequence:0{_SEQUENCE_DIGITS}d}.{generation}{_PART_SUFFIX}"


def _parse_part_name(name: str) -> tuple[int, str] | None:
    sequence, _, rest = name.partition(".")
    generation = rest.removesuffix(_PART_SUFFIX)
    if not sequence.isdigit() or generation == rest or not _GENERATION.fullmatch(generation):
        return None
    return int(sequence), generation


class StoredPart(NamedTuple):
    """A part's rows and its schema metadata (what the writer recorded with it, e.g. its routing)."""

    rows: list[dict[str, Any]]
    metadata: dict[str, str]


class BatchStore:
    """Where a pipeline run's batches and step markers live.

    Args:
        url: a local folder or an fsspec URL (``memory://``, ``s3://bucket/prefix``, ...).
        pipeline_name: the pipeline's name or DAG id (one folder per pipeline, see :func:`safe_folder_name`).
        run_id: the run's id; Airflow ids such as ``manual__2026-11-25T19:00:00+00:00`` are accepted.
        storage_options: passed to the fsspec filesystem (credentials, endpoint, ...).
        allow_pickle: parts may hold pickled values (``Pipeline(allow_pickle=True)``); otherwise
            writing a value Arrow cannot hold fails, and reading a pickled part is refused.
        conn_id: an Airflow connection giving the object store's credentials and endpoint (instead
            of ``storage_options``); ``url`` must then be an object-storage URL.
    """

    def __init__(
        self,
        url: str,
        pipeline_name: str,
        run_id: str,
        storage_options: dict[str, Any] | None = None,
        *,
        allow_pickle: bool = False,
        conn_id: str | None = None,
    ) -> None:
        self.url = str(url)
        self.allow_pickle = allow_pickle
        self.pipeline_name = pipeline_name
        self.run_id = run_id
        self.storage_options = dict(storage_options or {})
        self.conn_id = conn_id
        self._fs: fsspec.AbstractFileSystem | None = None
        if conn_id is None:
            self._fs, root = fsspec.core.url_to_fs(self.url, **self.storage_options)
            self._local = isinstance(self._fs, LocalFileSystem)
            protocols = set(self.protocols)
        else:
            if self.storage_options:
                raise ValueError(f"BatchStore({self.url!r}): give conn_id or storage_options, not both.")
            scheme, separator, root = self.url.partition("://")
            if not separator or scheme.lower() in ("file", "local"):
                raise ValueError(
                    f"BatchStore({self.url!r}, conn_id={conn_id!r}): a connection serves an object-storage"
                    " URL (s3://, gs://, abfs://, ...), not a local folder."
                )
            self._local = False
            protocols = {scheme.lower()}
        self._single_put = not self._local and bool(protocols & ATOMIC_PUT_PROTOCOLS)
        root = os.path.abspath(root) if self._local else root.rstrip("/")
        self.run_path = f"{root}/{safe_folder_name(pipeline_name)}/{safe_folder_name(run_id)}"

    def __repr__(self) -> str:
        connection = "" if self.conn_id is None else f", conn_id={self.conn_id!r}"
        return (
            f"BatchStore(url={self.url!r}, pipeline_name={self.pipeline_name!r}, run_id={self.run_id!r}{connection})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            functools.partial(BatchStore, allow_pickle=self.allow_pickle, conn_id=self.conn_id),
            (self.url, self.pipeline_name, self.run_id, self.storage_options),
        )

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The store's filesystem; with a connection, the provider's, resolved on first use.

        Raises:
            StoreUnreachableError: the connection is not defined or its filesystem cannot be built.
        """
        if self._fs is None:
            self._fs = connection_filesystem(self.url, self.conn_id)
        return self._fs

    @property
    def protocols(self) -> tuple[str, ...]:
        """The fsspec protocol names of the store's filesystem."""
        return self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)

    def check_reachable(self) -> None:
        """Lists the run's folder once, so a store that cannot be reached fails with a clear message.

        Raises:
            StoreUnreachableError: naming the store's URL and connection id (never a secret).
        """
        try:
            self.list_names(self.run_path)
        except StoreUnreachableError:
            raise
        except Exception as error:  # noqa: BLE001 - any filesystem's error: reported, then re-raised
            raise StoreUnreachableError(self.url, self.conn_id, error) from None

    def step(self, name: str, lineage: str) -> StepData:
        """The files of step ``name`` whose lineage fingerprint is ``lineage``."""
        return StepData(self, name, lineage)

    # -- atomic writes ---------------------------------------------------------------------
    def write_atomic(self, path: str, data: bytes) -> None:
        """Writes ``path`` so that readers see either nothing or all of ``data`` (see the module docstring)."""
        if self._single_put:
            self.fs.pipe_file(path, data)
            return
        if not self._local:
            folder, name = path.rsplit("/", 1)
            self.fs.makedirs(folder, exist_ok=True)
            temporary = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
            self.fs.pipe_file(temporary, data)
            if self.fs.exists(path):
                self.fs.rm_file(path)  # HDFS, WebHDFS and SFTP servers do not rename onto an existing file
            self.fs.mv(temporary, path)
            return
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        temporary = f"{folder}/.{os.path.basename(path)}.{uuid.uuid4().hex}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _fsync_folder(folder)

    def read(self, path: str) -> bytes | None:
        """The bytes at ``path``, or None when it does not exist."""
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None

    def remove(self, path: str) -> None:
        """Removes the file ``path`` if it exists."""
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass

    def list_names(self, folder: str) -> list[str]:
        """Base names of the files in ``folder`` (never a cached listing; none when it does not exist)."""
        self.fs.invalidate_cache(folder)  # s3fs/gcsfs would otherwise answer from an old listing
        try:
            names = self.fs.ls(folder, detail=False)
        except FileNotFoundError:
            return []
        return [name.rstrip("/").rsplit("/", 1)[-1] for name in names]


class StoreUnreachableError(OSError):
    """The store's filesystem refused or could not be reached; the message names its URL and
    connection id, and the error's type and text (a filesystem's own message, no credentials)."""

    def __init__(self, url: str, conn_id: str | None, error: BaseException) -> None:
        connection = "" if conn_id is None else f" through Airflow connection {conn_id!r}"
        super().__init__(
            f"Cannot reach the store {url!r}{connection}: {type(error).__name__}: {error}. Check that the"
            " endpoint is up and that the connection's credentials may list and write under that URL."
        )


def connection_filesystem(url: str, conn_id: str | None) -> fsspec.AbstractFileSystem:
    """The filesystem Airflow's providers build for ``url`` with connection ``conn_id``.

    Raises:
        StoreUnreachableError: the connection is not defined (the providers would silently fall back
            to anonymous access) or its filesystem cannot be built.
    """
    from airflow.sdk import BaseHook, ObjectStoragePath

    try:
        BaseHook.get_connection(conn_id)
        return ObjectStoragePath(url, conn_id=conn_id).fs
    except Exception as error:  # noqa: BLE001 - a missing connection or provider, named in the message
        raise StoreUnreachableError(url, conn_id, error) from None


class StepData:
    """The parts and markers of one step (one lineage) in one run; see the module docstring."""

    def __init__(self, store: BatchStore, name: str, lineage: str) -> None:
        try:
            validate_step_name(name)
        except ValueError:
            raise ValueError(f"Invalid step name {name!r} for the batch store: use letters, digits, '_', '-'.") from None
        if not _GENERATION.fullmatch(lineage):
            raise ValueError(f"Step {name!r}: invalid lineage fingerprint {lineage!r}.")
        self.store = store
        self.name = name
        self.lineage = lineage
        self.path = f"{store.run_path}/{name}/{lineage}"
        self._types: dict[str, ColumnTypes] = {}

    def __repr__(self) -> str:
        return f"StepData({self.name!r}, lineage={self.lineage!r}, run={self.store.run_id!r})"

    # -- parts ---------------------------------------------------------------------------
    def _part_path(self, generation: str, sequence: int) -> str:
        if not isinstance(sequence, int) or sequence < 0:
            raise ValueError(f"Step {self.name!r}: part sequence must be an integer >= 0, got {sequence!r}.")
        if not isinstance(generation, str) or not _GENERATION.fullmatch(generation):
            raise ValueError(f"Step {self.name!r}: invalid generation {generation!r}.")
        return f"{self.path}/parts/{part_name(sequence, generation)}"

    def write_part(
        self, generation: str, sequence: int, rows: list[dict[str, Any]], metadata: Mapping[str, str] | None = None
    ) -> None:
        """Writes output batch ``sequence`` of ``generation``; rewriting it with the same rows is harmless.

        ``metadata`` is stored in the part's schema, so it is committed with the rows, atomically.

        Each column keeps one type across the generation's parts (null and int -> float unify).

        Raises:
            PartEncodingError: a value Arrow cannot hold, or a column whose type drifted; the
                message names the step, the batch, the column and both types.
        """
        types = self._types.get(generation)
        if types is None:  # a resumed generation: learn the types of what it already committed
            schemas = [part_schema(self.read_part_bytes(generation, seq)) for seq in self.part_sequences(generation)]
            types = self._types[generation] = ColumnTypes.from_schema(*schemas)
        try:
            data = encode_part(rows, types, allow_pickle=self.store.allow_pickle, metadata=metadata)
        except PartEncodingError as error:
            raise PartEncodingError(error.column, f"Step {self.name!r}, batch {sequence}: {error}") from error
        self.store.write_atomic(self._part_path(generation, sequence), data)

    def read_part(self, generation: str, sequence: int) -> list[dict[str, Any]] | None:
        """Rows of part ``sequence`` of ``generation``, or None while it does not exist."""
        part = self.read_stored_part(generation, sequence)
        return None if part is None else part.rows

    def read_stored_part(self, generation: str, sequence: int) -> StoredPart | None:
        """Rows and metadata of part ``sequence`` of ``generation``, or None while it does not exist."""
        data = self.read_part_bytes(generation, sequence)
        if data is None:
            return None
        table = decode_table(data, allow_pickle=self.store.allow_pickle)
        metadata = {key.decode(): value.decode() for key, value in (table.schema.metadata or {}).items()}
        return StoredPart(table_to_rows(table, allow_pickle=self.store.allow_pickle), metadata)

    def read_part_bytes(self, generation: str, sequence: int) -> bytes | None:
        """Raw Arrow IPC bytes of part ``sequence`` of ``generation`` (None while it does not exist)."""
        return self.store.read(self._part_path(generation, sequence))

    def part_sequences(self, generation: str) -> list[int]:
        """Sequence numbers of the committed parts of ``generation``, ascending."""
        return sorted(sequence for sequence, owner in self._parts() if owner == generation)

    def delete_generation(self, generation: str) -> None:
        """Removes every part of ``generation`` (an output that was replaced)."""
        for sequence, owner in self._parts():
            if owner == generation:
                self.store.remove(self._part_path(owner, sequence))

    def _parts(self) -> list[tuple[int, str]]:
        parsed = (_parse_part_name(name) for name in self.store.list_names(f"{self.path}/parts"))
        return [part for part in parsed if part is not None]

    # -- markers -------------------------------------------------------------------------
    def _marker_path(self, kind: str, replica: int) -> str:
        if kind not in MARKER_KINDS:
            raise ValueError(f"Unknown marker kind {kind!r}; expected one of {MARKER_KINDS}.")
        return f"{self.path}/markers/{kind}-{int(replica)}.json"

    def write_marker(self, kind: str, payload: dict[str, Any], replica: int = 0) -> None:
        """Publishes a ``started``/``finished``/``failed`` marker of one replica."""
        self.store.write_atomic(self._marker_path(kind, replica), json.dumps(payload, sort_keys=True).encode())

    def read_marker(self, kind: str, replica: int = 0) -> dict[str, Any] | None:
        """The marker's payload, or None when it was not published."""
        data = self.store.read(self._marker_path(kind, replica))
        return None if data is None else json.loads(data)

    def delete_marker(self, kind: str, replica: int = 0) -> None:
        """Withdraws a marker (a new attempt withdraws the previous attempt's ``failed``)."""
        self.store.remove(self._marker_path(kind, replica))


def new_generation() -> str:
    """A fresh generation name."""
    return uuid.uuid4().hex[:16]


def _fsync_folder(folder: str) -> None:
    """Makes a rename in ``folder`` durable (a power loss cannot undo it)."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
