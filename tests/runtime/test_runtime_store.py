"""The batch store: atomic parts, markers, path safety; Arrow-native rows round-trip exactly."""

from __future__ import annotations

import os
import re
import threading

import pytest

from airflow_dististage.runtime import BatchStore
from airflow_dististage.runtime.encoding import decode_rows, encode_rows
from airflow_dististage.runtime.folders import safe_folder_name


LINEAGE = "0123456789abcdef"
GENERATION = "a1b2c3"


def test_parts_round_trip_in_sequence_order(store_path: str) -> None:
    data = BatchStore(store_path, "pipe", "run-1").step("step_a", LINEAGE)
    for sequence in (10, 2, 0):
        data.write_part(GENERATION, sequence, [{"n": sequence}])
    data.write_part("ffff", 5, [{"n": -1}])  # another generation's part is not this one's
    assert data.part_sequences(GENERATION) == [0, 2, 10]
    assert data.read_part(GENERATION, 2) == [{"n": 2}]
    assert data.read_part(GENERATION, 3) is None
    assert data.read_part(GENERATION, 5) is None
    assert os.path.isdir(os.path.join(store_path, "pipe", "run-1", "step_a", LINEAGE, "parts"))
    data.delete_generation(GENERATION)
    assert data.part_sequences(GENERATION) == [] and data.part_sequences("ffff") == [5]


def test_reader_never_sees_a_partial_part(store_path: str) -> None:
    data = BatchStore(store_path, "pipe", "run").step("writer", LINEAGE)
    rows = [{"text": "x" * 200, "n": n} for n in range(5000)]
    stop = threading.Event()
    seen: list[int] = []

    def read_continuously() -> None:
        while not stop.is_set():
            part = data.read_part(GENERATION, 0)
            if part is not None:
                seen.append(len(part))

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        for _ in range(20):
            data.write_part(GENERATION, 0, rows)
    finally:
        stop.set()
        reader.join()
    assert seen and set(seen) == {5000}
    leftovers = os.listdir(os.path.join(data.path, "parts"))
    assert leftovers == [f"000000000.{GENERATION}.arrow"]


def test_markers_are_published_read_and_withdrawn(store_path: str) -> None:
    data = BatchStore(store_path, "pipe", "run").step("s", LINEAGE)
    assert data.read_marker("started", 1) is None
    data.write_marker("started", {"attempt": 2, "heartbeat": 1.5}, replica=1)
    assert data.read_marker("started", 1) == {"attempt": 2, "heartbeat": 1.5}
    data.delete_marker("started", 1)
    assert data.read_marker("started", 1) is None
    with pytest.raises(ValueError, match="Unknown marker kind 'done'"):
        data.write_marker("done", {})


@pytest.mark.parametrize("step", ["../escape", "a/b", "", ".", "x y", "..", "/abs"])
def test_step_names_cannot_leave_the_run_folder(store_path: str, step: str) -> None:
    store = BatchStore(store_path, "pipe", "run")
    with pytest.raises(ValueError, match="Invalid step name"):
        store.step(step, LINEAGE)


@pytest.mark.parametrize("lineage", ["../x", "ABC", "", "a/b"])
def test_lineages_cannot_leave_the_step_folder(store_path: str, lineage: str) -> None:
    with pytest.raises(ValueError, match="invalid lineage"):
        BatchStore(store_path, "pipe", "run").step("s", lineage)


def test_any_pipeline_name_maps_to_one_folder_inside_the_store(store_path: str) -> None:
    store = BatchStore(store_path, "../p", "run")
    store.step("s", LINEAGE).write_part(GENERATION, 0, [{"a": 1}])
    assert os.listdir(store_path) == [safe_folder_name("../p")]
    assert BatchStore(store_path, "Social AI Personas", "run").run_path.startswith(store.run_path.rsplit("/", 2)[0])


def test_airflow_run_ids_map_to_safe_deterministic_folders(store_path: str) -> None:
    manual = "manual__2026-11-25T19:00:00+00:00"
    folder = safe_folder_name(manual)
    assert "/" not in folder and ":" not in folder and "+" not in folder
    assert folder == safe_folder_name(manual)
    assert safe_folder_name("scheduled__plain") == "scheduled__plain"
    assert safe_folder_name("..") not in ("..", ".")
    assert safe_folder_name("../../etc").count("/") == 0


def test_folder_names_are_injective() -> None:
    # The valid run id that equals another id's folder name must get a folder of its own.
    manual = "manual__2026-11-25T19:00:00+00:00"
    assert safe_folder_name(safe_folder_name(manual)) != safe_folder_name(manual)
    names = ["a~3a", "a:", "a_", "a b", "a~20b", "é", "~c3~a9", ".", "..", "~2e", "x.y", "données", "a/b", "a~2fb"]
    folders = [safe_folder_name(name) for name in names]
    assert len(set(folders)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9_.~-]+", folder) and folder not in (".", "..") for folder in folders)


def test_fsspec_memory_url_works() -> None:
    store = BatchStore("memory://dististage-test", "pipe", "manual__x:y")
    data = store.step("s", LINEAGE)
    data.write_part(GENERATION, 1, [{"a": "b"}])
    data.write_marker("finished", {"batches": 2})
    assert data.part_sequences(GENERATION) == [1]
    assert data.read_part(GENERATION, 1) == [{"a": "b"}]
    assert data.read_marker("finished") == {"batches": 2}
    data.delete_generation(GENERATION)
    assert data.part_sequences(GENERATION) == []


def test_store_pickles_to_an_equal_store(store_path: str) -> None:
    import pickle

    store = BatchStore(store_path, "pipe", "run", {"auto_mkdir": True}, allow_pickle=True)
    copy = pickle.loads(pickle.dumps(store))
    assert (copy.run_path, copy.storage_options, copy.allow_pickle) == (store.run_path, store.storage_options, True)


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [{"a": 1, "b": "x"}, {"a": 2, "b": None}],
        [{"a": None}, {"a": "later a string"}],
        [{"a": 1.0}, {"a": 2.5}],
        [{"a": [1, None]}, {"a": None}, {"a": []}],
        [{"a": {"x": 1, "y": [None]}}, {"a": {"x": None, "y": []}}],
        [{"a": 1, "b": 2}, {"b": 3, "a": 4}],
        [{}, {}],
        [{"a": b"bytes", "b": float("inf")}],
    ],
)
def test_encoding_gives_back_exactly_the_rows(rows: list[dict]) -> None:
    decoded = decode_rows(encode_rows(rows))
    assert decoded == rows
    assert [[type(v) for v in row.values()] for row in decoded] == [[type(v) for v in row.values()] for row in rows]
