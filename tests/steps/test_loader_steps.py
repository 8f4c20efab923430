"""The ``datasets`` loaders: real ``load_dataset``/``load_from_disk`` on local data, in ``process`` and in
``pipeline.run()``, a resume that repeats no row, one ``dag.test()`` and the errors that name the step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_dististage.distiset import Distiset
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime.local import StepFailedError
from airflow_dististage.steps import (
    KeepColumns,
    LoadDataFromDisk,
    LoadDataFromFileSystem,
    LoadDataFromHub,
    StepInput,
    step,
)
from airflow_dististage.steps.generators import huggingface
from airflow_dististage.steps.generators.huggingface import dataset_batches
from airflow_dististage.typing import GeneratorStepOutput, StepOutput
from tests.conftest import REPO_ROOT
from tests.runtime.conftest import rows_of, store_path  # noqa: F401 - store_path is a fixture
from tests.steps.loader_data import ROWS, write_loader_data
from tests.steps.test_steps_dag_test import DAGS, dag_distiset

@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_loader_data(tmp_path_factory.mktemp("loader-data"))


def _batches(loader: Any, offset: int = 0) -> list[tuple[list[dict[str, Any]], bool]]:
    loader.load()
    return list(loader.process(offset))


def _run_alone(loader_factory, store: str) -> list[dict[str, Any]]:
    with Pipeline(name="loader") as pipeline:
        loader_factory()
    return rows_of(pipeline.run(storage_parameters={"path": store}, use_cache=False))


# -- distilabel's names, arguments and defaults ---------------------------------------------
def test_names_module_paths_and_defaults_are_distilabels() -> None:
    assert (huggingface.LoadDataFromHub, huggingface.LoadDataFromDisk, huggingface.LoadDataFromFileSystem) == (
        LoadDataFromHub, LoadDataFromDisk, LoadDataFromFileSystem
    )
    hub = LoadDataFromHub(repo_id="org/name")
    assert (hub.name, hub.split, hub.config, hub.revision, hub.streaming, hub.num_examples, hub.storage_options,
            hub.batch_size) == ("load_data_from_hub_0", "train", None, None, False, None, None, 50)
    disk = LoadDataFromDisk(dataset_path="x")
    assert (disk.split, disk.config, disk.is_distiset, disk.keep_in_memory, disk.num_examples, disk.batch_size) == (
        None, "default", False, None, None, 50
    )
    files = LoadDataFromFileSystem(data_files="x.jsonl")
    assert (files.split, files.filetype, files.streaming, files.num_examples, files.batch_size) == (
        "train", None, False, None, 50
    )
    assert {"repo_id", "split", "config", "revision", "streaming", "num_examples", "batch_size"} <= set(
        hub.runtime_parameters()
    )
    assert {"data_files", "filetype", "split", "num_examples"} <= set(files.runtime_parameters())
    assert {"dataset_path", "is_distiset", "config", "split", "keep_in_memory"} <= set(disk.runtime_parameters())


def test_outputs_are_unknown_until_load_reads_the_columns(data: Path) -> None:
    loader = LoadDataFromDisk(dataset_path=str(data / "saved"))
    assert (loader.outputs, loader.outputs_known) == ([], False)
    loader.load()
    assert (loader.outputs, loader.outputs_known) == (["id", "text"], True)


# -- batches: sizes, num_examples, offsets --------------------------------------------------
def test_hub_batches_num_examples_and_split(data: Path) -> None:
    loader = LoadDataFromHub(repo_id=str(data / "hub"), batch_size=2, num_examples=5)
    assert _batches(loader) == [(ROWS[0:2], False), (ROWS[2:4], False), (ROWS[4:5], True)]
    assert _batches(loader, offset=3) == [(ROWS[3:5], True)]
    assert _batches(loader, offset=5) == [([], True)]
    test = LoadDataFromHub(repo_id=str(data / "hub"), split="test", num_examples=10)
    assert _batches(test) == [([{"id": 100, "text": "test"}], True)]


def test_streaming_reads_the_same_batches_from_any_offset(data: Path) -> None:
    for offset in range(8):
        kwargs = {"repo_id": str(data / "hub"), "batch_size": 3, "num_examples": 6}
        assert _batches(LoadDataFromHub(streaming=True, **kwargs), offset) == _batches(
            LoadDataFromHub(**kwargs), offset
        ), offset


def test_dataset_batches_of_an_empty_dataset_is_one_empty_last_batch() -> None:
    from datasets import Dataset

    assert list(dataset_batches(Dataset.from_list([]), 0, 5)) == [([], True)]


def test_disk_loads_a_dataset_a_split_and_a_distiset_configuration(data: Path) -> None:
    assert _batches(LoadDataFromDisk(dataset_path=str(data / "saved"), batch_size=4)) == [
        (ROWS[:4], False), (ROWS[4:], True)
    ]
    assert _batches(LoadDataFromDisk(dataset_path=str(data / "saved_dict"), split="test")) == [
        ([{"id": 100, "text": "test"}], True)
    ]
    distiset = LoadDataFromDisk(dataset_path=str(data / "distiset"), is_distiset=True, num_examples=2)
    assert _batches(distiset) == [(ROWS[:2], True)]
    other = LoadDataFromDisk(dataset_path=str(data / "distiset"), is_distiset=True, config="other", split="train")
    assert _batches(other) == [([{"id": 100, "text": "test"}], True)]


@pytest.mark.parametrize(
    ("data_files", "filetype", "expected"),
    [
        ("rows.csv", None, ROWS),
        ("rows.parquet", None, ROWS),
        ("rows.txt", "json", ROWS),
        ("files/a.jsonl", None, ROWS[:4]),
        ("files", None, ROWS[:4] + ROWS[4:]),  # a folder: its files and its subfolders' files, sorted
        ("files/**/*.jsonl", None, ROWS[:4] + ROWS[4:]),
        ("rows.par*", "parquet", ROWS),
    ],
)
def test_file_system_infers_the_filetype_and_reads_files_globs_and_folders(
    data: Path, data_files: str, filetype: str | None, expected: list[dict[str, Any]]
) -> None:
    loader = LoadDataFromFileSystem(data_files=str(data / data_files), filetype=filetype, batch_size=100)
    assert _batches(loader) == [(expected, True)]


def test_file_system_reads_a_file_url(data: Path) -> None:
    loader = LoadDataFromFileSystem(data_files=(data / "files").as_uri() + "/*.jsonl", batch_size=3, num_examples=4)
    assert _batches(loader) == [(ROWS[:3], False), (ROWS[3:4], True)]


# -- pipeline.run() -------------------------------------------------------------------------
def test_each_loader_in_pipeline_run(data: Path, store_path: str) -> None:  # noqa: F811
    hub = str(data / "hub")
    assert _run_alone(lambda: LoadDataFromHub(repo_id=hub, batch_size=2, num_examples=5), store_path) == ROWS[:5]
    assert _run_alone(lambda: LoadDataFromDisk(dataset_path=str(data / "distiset"), is_distiset=True, config="other",
                                               split="train"), store_path) == [{"id": 100, "text": "test"}]
    csv = str(data / "rows.csv")
    assert _run_alone(lambda: LoadDataFromFileSystem(data_files=csv, batch_size=3), store_path) == ROWS


def test_a_loader_feeds_its_successors_in_batch_size_parts(data: Path, store_path: str) -> None:  # noqa: F811
    with Pipeline(name="loader-parts") as pipeline:
        LoadDataFromDisk(name="disk", dataset_path=str(data / "saved"), batch_size=3) >> KeepColumns(columns=["id"])
    assert rows_of(pipeline.run(storage_parameters={"path": store_path}, use_cache=False)) == [
        {"id": row["id"]} for row in ROWS
    ]
    (lineage,) = Path(store_path, "loader-parts", "local", "disk").iterdir()
    assert len(list((lineage / "parts").rglob("*.arrow"))) == 3  # 7 rows in batches of 3


class FailsOnceFileLoader(LoadDataFromFileSystem):
    """Fails once after its first two batches; logs the offset ``process`` starts at."""

    flag_path: str = ""
    log_path: str = ""

    def process(self, offset: int = 0) -> GeneratorStepOutput:
        with open(self.log_path, "a") as log:
            log.write(f"{offset}\n")
        for number, batch in enumerate(super().process(offset)):
            if number == 2 and not os.path.exists(self.flag_path):
                open(self.flag_path, "w").close()
                raise RuntimeError("a transient failure, on purpose")
            yield batch


@step(inputs=["id"], outputs=["double"])
def Double(inputs: StepInput) -> StepOutput:
    yield [{**row, "double": row["id"] * 2} for row in inputs]


def test_a_rerun_after_a_failure_resumes_after_the_committed_rows(
    data: Path, store_path: str, tmp_path: Path  # noqa: F811
) -> None:
    with Pipeline(name="loader-resume") as pipeline:
        FailsOnceFileLoader(
            name="files", data_files=str(data / "files"), batch_size=2,
            flag_path=str(tmp_path / "failed"), log_path=str(tmp_path / "offsets.log"),
        ) >> Double(input_batch_size=3)
    with pytest.raises(StepFailedError, match="Step 'files'.*a transient failure, on purpose"):
        pipeline.run(storage_parameters={"path": store_path})
    rows = rows_of(pipeline.run(storage_parameters={"path": store_path}))
    assert rows == [{**row, "double": row["id"] * 2} for row in ROWS]
    assert (tmp_path / "offsets.log").read_text().split() == ["0", "4"]  # the rerun skips the 2 committed parts


# -- errors ---------------------------------------------------------------------------------
def test_errors_name_the_step(data: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"Step 'files': no data files at '.*missing\.jsonl'"):
        LoadDataFromFileSystem(name="files", data_files=str(data / "missing.jsonl")).load()
    with pytest.raises(ValueError, match=r"Step 'files': unknown filetype 'txt' .*set `filetype` to one of"):
        LoadDataFromFileSystem(name="files", data_files=str(data / "rows.txt")).load()
    with pytest.raises(FileNotFoundError, match=r"Step 'disk': no saved dataset at '.*missing'"):
        LoadDataFromDisk(name="disk", dataset_path=str(data / "missing")).load()
    with pytest.raises(ValueError, match=r"Step 'disk': configuration 'nope' is not in the Distiset .*'other'\]"):
        LoadDataFromDisk(name="disk", dataset_path=str(data / "distiset"), is_distiset=True, config="nope").load()
    with pytest.raises(ValueError, match=r"Step 'disk': the dataset at .* splits \['test', 'train'\]; set `split`"):
        LoadDataFromDisk(name="disk", dataset_path=str(data / "saved_dict")).load()
    with pytest.raises(FileNotFoundError, match=r"Step 'hub': cannot find dataset '.*missing'"):
        LoadDataFromHub(name="hub", repo_id=str(data / "missing")).load()
    with pytest.raises(ValueError, match=r"Step 'hub': repo_id is required"):
        LoadDataFromHub(name="hub").load()
    with pytest.raises(ValueError, match=r"Step 'hub': num_examples must be None .* got 0"):
        LoadDataFromHub(name="hub", repo_id="x", num_examples=0)


def test_a_failed_load_in_pipeline_run_names_the_step(store_path: str, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(StepFailedError, match=r"Step 'files'.*no data files at"):
        _run_alone(lambda: LoadDataFromFileSystem(name="files", data_files=str(tmp_path / "none.csv")), store_path)


# -- Airflow --------------------------------------------------------------------------------
def test_importing_the_dag_file_imports_no_datasets() -> None:
    script = textwrap.dedent(
        f"""
        import json, runpy, sys
        runpy.run_path({str(DAGS / "loader_steps.py")!r})
        print(json.dumps([m for m in ("datasets", "pyarrow.parquet") if m in sys.modules]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_loader_steps_dag(airflow_env, dag_runs) -> None:
    distiset = dag_distiset(airflow_env, dag_runs, "loader_steps")
    assert distiset["hub"]["train"].to_list() == ROWS[:5]
    assert distiset["disk"]["train"].to_list() == ROWS
    assert distiset["kept"]["train"].to_list() == [{"id": row["id"]} for row in ROWS[:4]]
