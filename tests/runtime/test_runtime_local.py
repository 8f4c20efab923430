"""The local runner: seed examples with 1,000+ rows, load groups, replicas, several predecessors,
the cases distilabel 1.5.3 hangs on, use_cache, dataset= and failures."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime.local import StepFailedError
from airflow_dististage.steps import LoadDataFromDicts
from tests.runtime.conftest import rows_of
from tests.runtime.steps_for_tests import (
    AddOne,
    CallLog,
    DummyStep,
    GlobalDummyStep,
    KeepEven,
    LastBatchEmpty,
    Merge,
    MergeInstructions,
    Numbers,
    replicated_pipeline,
    seed_expected,
    seed_pipeline,
)


@pytest.mark.parametrize(
    "load_groups",
    [None, [["dummy_step_0"]], "sequential_step_execution"],
    ids=["plain", "load-groups-generator-alone", "sequential"],
)
def test_seed_example_with_1200_rows(store_path: str, load_groups) -> None:
    pipeline = seed_pipeline(1200)
    distiset = pipeline.run(load_groups=load_groups, storage_parameters={"path": store_path}, use_cache=False)
    assert list(distiset) == ["default"]
    assert rows_of(distiset) == seed_expected(1200)


def test_distilabel_load_groups_integration_example(store_path: str) -> None:
    """distilabel's own load_groups test pipeline (generator alone in its stage) with 120 rows."""
    with Pipeline(name="load-groups") as pipeline:
        generator = LoadDataFromDicts(data=[{"instruction": f"Hi {i}"} for i in range(120)])
        dummy_step_0, dummy_step_1 = DummyStep(), DummyStep()
        merge = MergeInstructions(name="dummy_step2_0")
        global_step = GlobalDummyStep()
        dummy_step_2, dummy_step_3, dummy_step_4 = DummyStep(), DummyStep(), DummyStep()
        (
            generator
            >> [dummy_step_0, dummy_step_1]
            >> merge
            >> global_step
            >> dummy_step_2
            >> [dummy_step_3, dummy_step_4]
        )
    plan = pipeline.plan([[dummy_step_0.name], [dummy_step_2.name]])
    assert [list(stage.steps) for stage in plan.stages][0] == ["load_data_from_dicts_0"]
    distiset = pipeline.run(
        load_groups=[[dummy_step_0.name], [dummy_step_2.name]], storage_parameters={"path": store_path}
    )
    assert sorted(distiset) == ["dummy_step_3", "dummy_step_4"]
    assert len(rows_of(distiset, "dummy_step_3")) == 240


def test_replicas_split_batches_and_keep_order(store_path: str) -> None:
    pipeline = replicated_pipeline(95, replicas=3)
    rows = rows_of(pipeline.run(storage_parameters={"path": store_path}))
    assert [row["n"] for row in rows] == list(range(95))
    batch_pids = [rows[start]["pid"] for start in range(0, 95, 10)]
    assert all(row["pid"] == batch_pids[index // 10] for index, row in enumerate(rows))
    assert len(set(batch_pids)) == 3
    assert all(batch_pids[k] == batch_pids[k % 3] for k in range(len(batch_pids)))


def test_several_predecessors_receive_one_list_each(store_path: str) -> None:
    with Pipeline(name="merge") as pipeline:
        left = Numbers(name="left", count=25, batch_size=4)
        right = Numbers(name="right", count=12, batch_size=5)
        [left, right] >> Merge(input_batch_size=10)
    rows = rows_of(pipeline.run(storage_parameters={"path": store_path}))
    assert [row["sizes"] for row in rows] == [[10, 10]] * 20 + [[10, 2]] * 12 + [[5, 0]] * 5
    assert [row["n"] for row in rows] == [*range(10), *range(10), *range(10, 20), *range(10, 12), *range(20, 25)]


def test_last_batch_empty_completes(store_path: str) -> None:
    with Pipeline(name="last-empty") as pipeline:
        LastBatchEmpty(batch_size=25) >> AddOne(input_batch_size=7)
    rows = rows_of(pipeline.run(storage_parameters={"path": store_path}))
    assert [row["n"] for row in rows] == list(range(1, 61))


def test_filter_dropping_every_row_completes(store_path: str) -> None:
    with Pipeline(name="drop-all") as pipeline:
        Numbers(count=130, batch_size=50) >> KeepEven(drop_all=True) >> AddOne()
    start = time.monotonic()
    distiset = pipeline.run(storage_parameters={"path": store_path})
    assert time.monotonic() - start < 30
    assert distiset["default"]["train"].num_rows == 0


def test_generator_alone_in_its_stage_with_many_rows(store_path: str) -> None:
    with Pipeline(name="gen-alone") as pipeline:
        generator = Numbers(count=500, batch_size=50)
        generator >> AddOne(input_batch_size=50) >> KeepEven()
    rows = rows_of(pipeline.run(load_groups=[[generator.name]], storage_parameters={"path": store_path}))
    assert [row["n"] for row in rows] == list(range(2, 501, 2))


def test_use_cache_reuses_finished_steps_and_recomputes_changed_ones(store_path: str, tmp_path: Path) -> None:
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with Pipeline(name="cached") as pipeline:
        (
            Numbers(count=40, batch_size=10)
            >> CallLog(name="first", log_path=str(first_log), input_batch_size=10)
            >> CallLog(name="second", log_path=str(second_log), input_batch_size=10)
        )
    options = {"path": store_path}
    rows = rows_of(pipeline.run(storage_parameters=options))
    assert first_log.read_text().split() == ["0", "10", "20", "30"]

    again = rows_of(pipeline.run(storage_parameters=options))
    assert again == rows
    assert first_log.read_text().split() == ["0", "10", "20", "30"]
    assert second_log.read_text().split() == ["0", "10", "20", "30"]

    changed = rows_of(pipeline.run(storage_parameters=options, parameters={"second": {"input_batch_size": 20}}))
    assert changed == rows
    assert first_log.read_text().split() == ["0", "10", "20", "30"]
    assert second_log.read_text().split() == ["0", "10", "20", "30", "0", "20"]

    rows_of(pipeline.run(storage_parameters=options, use_cache=False, parameters={"second": {"input_batch_size": 20}}))
    assert first_log.read_text().split() == ["0", "10", "20", "30"] * 2

    upstream_changed = rows_of(pipeline.run(storage_parameters=options, parameters={"first": {"input_batch_size": 40}}))
    assert upstream_changed == rows
    assert first_log.read_text().split() == ["0", "10", "20", "30"] * 2 + ["0"]
    assert second_log.read_text().split() == ["0", "10", "20", "30", "0", "20", "0", "20", "0", "20"]


def _dataset_pipeline() -> Pipeline:
    with Pipeline(name="with-dataset") as pipeline:
        DummyStep(input_batch_size=8)
    return pipeline


def test_dataset_as_list_of_dicts(store_path: str) -> None:
    pipeline = _dataset_pipeline()
    data = [{"instruction": f"q{i}"} for i in range(30)]
    distiset = pipeline.run(dataset=data, storage_parameters={"path": store_path}, dataset_batch_size=7)
    assert rows_of(distiset) == [{"instruction": f"q{i}", "response": f"Q{i}"} for i in range(30)]
    assert "load_data_from_dicts_0" in pipeline.steps
    again = pipeline.run(dataset=data[:5], storage_parameters={"path": store_path})
    assert rows_of(again) == [{"instruction": f"q{i}", "response": f"Q{i}"} for i in range(5)]


def test_dataset_with_the_step_in_its_own_load_group(store_path: str) -> None:
    """The seed's ``pipeline.run(dataset=dataset, load_groups=[[text_generation_0.name]])`` shape."""
    pipeline = _dataset_pipeline()
    data = [{"instruction": f"q{i}"} for i in range(130)]
    distiset = pipeline.run(dataset=data, load_groups=[["dummy_step_0"]], storage_parameters={"path": store_path})
    assert [list(stage.steps) for stage in pipeline.plan([["dummy_step_0"]]).stages] == [
        ["load_data_from_dicts_0"],
        ["dummy_step_0"],
    ]
    assert rows_of(distiset) == [{"instruction": f"q{i}", "response": f"Q{i}"} for i in range(130)]


def test_dataset_as_datasets_dataset_and_dataframe(store_path: str) -> None:
    import datasets
    import pandas as pd

    data = [{"instruction": f"q{i}"} for i in range(12)]
    expected = [{"instruction": f"q{i}", "response": f"Q{i}"} for i in range(12)]
    for given in (datasets.Dataset.from_list(data), pd.DataFrame(data)):
        distiset = _dataset_pipeline().run(dataset=given, storage_parameters={"path": store_path}, use_cache=False)
        assert rows_of(distiset) == expected


def test_dataset_is_rejected_next_to_a_generator(store_path: str) -> None:
    with pytest.raises(ValueError, match="already starts with generator"):
        seed_pipeline(3).run(dataset=[{"instruction": "x"}], storage_parameters={"path": store_path})


def test_a_failing_step_stops_the_run_and_is_named(store_path: str) -> None:
    with Pipeline(name="failing") as pipeline:
        (
            Numbers(count=2000, batch_size=10)
            >> AddOne(name="breaks", fail_at=305, input_batch_size=10)
            >> AddOne(name="after", delay=0.01, input_batch_size=10)
        )
    start = time.monotonic()
    with pytest.raises(StepFailedError, match=r"Step 'breaks' \(replica 0\) failed: ValueError: boom at n=305") as info:
        pipeline.run(storage_parameters={"path": store_path})
    assert info.value.step == "breaks"
    assert time.monotonic() - start < 20


def test_unknown_runtime_parameter_is_rejected_before_running(store_path: str) -> None:
    with pytest.raises(ValueError, match="input_batch_sise"):
        seed_pipeline(3).run(
            parameters={"dummy_step_0": {"input_batch_sise": 3}}, storage_parameters={"path": store_path}
        )


def test_live_progress_shows_every_step(
    store_path: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    seed_pipeline(120).run(storage_parameters={"path": store_path}, show_progress=True)
    shown = capsys.readouterr().out
    for name in ("load_data_from_dicts_0", "dummy_step_0", "global_dummy_step_0", "dummy_step_1"):
        assert name in shown
    assert "finished" in shown and "120" in shown


def test_in_memory_storage_is_rejected_with_a_reason() -> None:
    with pytest.raises(ValueError, match="in-memory filesystem is private to one process"):
        seed_pipeline(3).run(storage_parameters={"path": "memory://runs"})


def test_dataset_batch_size_is_validated_on_every_run(store_path: str) -> None:
    pipeline = _dataset_pipeline()
    data = [{"instruction": f"q{i}"} for i in range(4)]
    pipeline.run(dataset=data, storage_parameters={"path": store_path}, dataset_batch_size=2)
    with pytest.raises(ValueError, match="dataset_batch_size must be an integer >= 1, got 0"):
        pipeline.run(dataset=data, storage_parameters={"path": store_path}, dataset_batch_size=0)
    with pytest.raises(ValueError, match="dataset_batch_size must be an integer >= 1, got 0"):
        _dataset_pipeline().run(dataset=data, storage_parameters={"path": store_path}, dataset_batch_size=0)


def test_a_step_needing_more_gpus_than_the_host_has_fails_before_any_step_runs(
    store_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_dististage.steps import StepResources

    monkeypatch.setenv("DISTISTAGE_GPUS", "0")
    monkeypatch.setenv("DISTISTAGE_GPU_LOCK_DIR", str(tmp_path / "locks"))
    with Pipeline(name="too-big") as pipeline:
        (
            Numbers(name="gen", count=20)
            >> AddOne(name="first")
            >> AddOne(name="big", resources=StepResources(gpus=2, replicas=2))
        )
    with pytest.raises(ValueError, match=r"Step 'big' needs 2 GPU\(s\) per replica but this host has 1"):
        pipeline.run(load_groups="sequential_step_execution", storage_parameters={"path": store_path})
    assert not (Path(store_path) / "too-big").exists()


def test_replicas_of_a_global_step_are_rejected_before_any_step_runs(store_path: str) -> None:
    from airflow_dististage.steps import StepResources
    from tests.runtime.steps_for_tests import Total

    with Pipeline(name="global-replicas") as pipeline:
        Numbers(name="gen", count=20) >> AddOne(name="first") >> Total(name="sum", resources=StepResources(replicas=2))
    with pytest.raises(ValueError, match="'sum'"):
        pipeline.run(load_groups="sequential_step_execution", storage_parameters={"path": store_path})
    assert not (Path(store_path) / "global-replicas" / "local" / "gen").exists()


def test_importing_the_gpu_module_loads_no_data_library() -> None:
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    code = (
        "import sys\n"
        "import airflow_dististage.runtime.gpus\n"
        "print(sorted(m for m in ('pyarrow', 'fsspec', 'networkx') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
