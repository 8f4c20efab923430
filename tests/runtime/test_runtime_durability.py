"""Parts and markers are durable and atomic on every filesystem: fsync before the rename (and of the
folder after it) locally, one put on object stores, a temporary name then a move elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem

from airflow_dististage.runtime import BatchStore

LINEAGE = "0123456789abcdef"
GENERATION = "feedc0de"


def test_a_local_part_is_fsynced_before_it_is_renamed_into_place(tmp_path: Path, monkeypatch) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def recording_fsync(descriptor: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        real_fsync(descriptor)

    def recording_replace(source: str, target: str) -> None:
        events.append(("replace", target))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    data = BatchStore(str(tmp_path), "pipe", "run").step("s", LINEAGE)
    data.write_part(GENERATION, 0, [{"a": 1}])
    part = Path(data.path) / "parts" / f"000000000.{GENERATION}.arrow"
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"]
    assert events[0][1].endswith(".tmp") and events[1][1] == str(part) and events[2][1] == str(part.parent)
    assert data.read_part(GENERATION, 0) == [{"a": 1}]


class RecordingDirFileSystem(DirFileSystem):
    """A real filesystem (a folder seen through fsspec's ``dir`` protocol) that records writes and moves."""

    protocol = "recordingdir"
    calls: list[tuple[str, str]] = []

    def pipe_file(self, path, value, **kwargs):
        self.calls.append(("pipe", path))
        return super().pipe_file(path, value, **kwargs)

    def mv(self, path1, path2, **kwargs):
        self.calls.append(("mv", path2))
        return super().mv(path1, path2, **kwargs)


def test_other_filesystems_write_a_temporary_name_then_move_it(tmp_path: Path) -> None:
    fsspec.register_implementation(RecordingDirFileSystem.protocol, RecordingDirFileSystem, clobber=True)
    filesystem = RecordingDirFileSystem(path=str(tmp_path), fs=LocalFileSystem())
    RecordingDirFileSystem.calls = []
    store = BatchStore("recordingdir://store", "pipe", "run", {"path": str(tmp_path), "fs": LocalFileSystem()})
    assert not isinstance(store.fs, LocalFileSystem) and isinstance(store.fs, RecordingDirFileSystem)
    data = store.step("s", LINEAGE)
    data.write_marker("finished", {"batches": 1})
    (write, move) = RecordingDirFileSystem.calls
    assert write[0] == "pipe" and write[1].endswith(".tmp") and move == ("mv", f"{data.path}/markers/finished-0.json")
    assert data.read_marker("finished") == {"batches": 1}
    assert not [name for name in filesystem.ls(f"{data.path}/markers", detail=False) if name.endswith(".tmp")]
