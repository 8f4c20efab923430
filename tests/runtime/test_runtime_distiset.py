"""Distiset: leaf naming, save/load round trip; the package imports no runtime or heavy library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from airflow_dististage.distiset import Distiset
from airflow_dististage.pipeline import Pipeline
from tests.conftest import REPO_ROOT
from tests.runtime.steps_for_tests import AddOne, KeepEven, Numbers


def _two_leaves(store_path: str) -> Distiset:
    with Pipeline(name="two-leaves") as pipeline:
        generator = Numbers(count=30, batch_size=8)
        generator >> AddOne(name="plus")
        generator >> KeepEven(name="evens")
    return pipeline.run(storage_parameters={"path": store_path})


def test_each_leaf_is_a_configuration_with_a_train_split(store_path: str) -> None:
    distiset = _two_leaves(store_path)
    assert sorted(distiset) == ["evens", "plus"]
    assert list(distiset["plus"]) == ["train"]
    assert distiset["plus"]["train"]["n"] == list(range(1, 31))
    assert distiset["evens"]["train"]["n"] == list(range(0, 30, 2))


def test_save_to_disk_and_load_from_disk_round_trip(store_path: str, tmp_path: Path) -> None:
    distiset = _two_leaves(store_path)
    distiset.save_to_disk(tmp_path / "saved")
    loaded = Distiset.load_from_disk(tmp_path / "saved")
    assert sorted(loaded) == ["evens", "plus"]
    assert loaded["evens"]["train"].to_list() == distiset["evens"]["train"].to_list()


def test_mixed_type_columns_reach_the_distiset(store_path: str) -> None:
    from airflow_dististage.steps import LoadDataFromDicts

    with Pipeline(name="mixed") as pipeline:
        LoadDataFromDicts(data=[{"a": None, "b": [1, 2]}, {"a": "text", "b": [3]}], batch_size=1)
    rows = pipeline.run(storage_parameters={"path": store_path})["default"]["train"].to_list()
    assert rows == [{"a": None, "b": [1, 2]}, {"a": "text", "b": [3]}]


def test_building_a_pipeline_imports_no_runtime_or_heavy_library() -> None:
    code = (
        "import sys\n"
        "from airflow_dististage.pipeline import Pipeline\n"
        "from airflow_dististage.steps import LoadDataFromDicts, StepInput, step\n"
        "@step(inputs=['a'], outputs=['b'])\n"
        "def S(inputs: StepInput):\n"
        "    yield inputs\n"
        "with Pipeline(name='p') as p:\n"
        "    LoadDataFromDicts(data=[{'a': 1}]) >> S()\n"
        "p.plan()\n"
        "heavy = ('airflow_dististage.runtime', 'airflow_dististage.distiset', 'pyarrow', 'datasets', 'pandas',"
        " 'torch', 'transformers', 'vllm')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_rows_with_different_columns_keep_every_column(store_path: str) -> None:
    from airflow_dististage.steps import LoadDataFromDicts

    with Pipeline(name="ragged") as pipeline:
        LoadDataFromDicts(data=[{"a": 1}, {"a": 2, "b": "x"}], batch_size=5)
    rows = pipeline.run(storage_parameters={"path": store_path})["default"]["train"].to_list()
    assert rows == [{"a": 1, "b": None}, {"a": 2, "b": "x"}]


def _finished_chain(store_path: str):
    from airflow_dististage.runtime import BatchStore, StepExecution

    with Pipeline(name="exact-parts") as pipeline:
        Numbers(name="gen", count=25, batch_size=10) >> AddOne(name="plus", input_batch_size=10)
    plan, store = pipeline.plan(), BatchStore(store_path, "exact-parts", "run")
    executions = [StepExecution(pipeline, plan, store, name) for name in ("gen", "plus")]
    for execution in executions:
        execution.run()
    return plan, store, executions[-1]


def test_distiset_reads_exactly_the_finished_parts(store_path: str) -> None:
    from airflow_dististage.distiset import create_distiset

    plan, store, plus = _finished_chain(store_path)
    plus.data.write_part(plus.generation, 3, [{"n": -1}])  # left by an earlier attempt that wrote more parts
    assert create_distiset(store, plan, plus.fingerprints)["default"]["train"]["n"] == list(range(1, 26))


def test_distiset_of_an_unfinished_or_damaged_leaf_is_a_clear_error(store_path: str) -> None:
    import pytest

    from airflow_dististage.distiset import create_distiset

    plan, store, plus = _finished_chain(store_path)
    from airflow_dististage.runtime.store import part_name

    store.remove(f"{plus.data.path}/parts/{part_name(1, plus.generation)}")
    with pytest.raises(RuntimeError, match=r"Step 'plus' finished but its part 1 is missing"):
        create_distiset(store, plan, plus.fingerprints)
    plus.data.delete_marker("finished")
    with pytest.raises(RuntimeError, match=r"Step 'plus' \(replica 0\) has not finished in run 'run'"):
        create_distiset(store, plan, plus.fingerprints)


def test_a_stale_output_never_reaches_the_distiset(store_path: str) -> None:
    import pytest

    from airflow_dististage.distiset import create_distiset
    from airflow_dististage.runtime import StepExecution

    plan, store, plus = _finished_chain(store_path)
    StepExecution(plus.step.pipeline, plan, store, "gen", incarnation="cleared").run()  # gen recomputed
    with pytest.raises(RuntimeError, match=r"Step 'plus' \(replica 0\) was computed from an earlier output"):
        create_distiset(store, plan, plus.fingerprints)
