"""The run view's model: a run's report and row previews, read from stores written by real runs."""

from __future__ import annotations

import json
import math
import time

import pytest

from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime import StepExecution, lineage_fingerprints
from airflow_dististage.runtime.local import LOCAL_RUN_ID, StepFailedError
from airflow_dististage.runtime.manifest import read_run_manifest, write_run_manifest
from airflow_dististage.runtime.progress import StepProgress
from airflow_dististage.runtime.row_preview import MAX_PREVIEW_PARTS, MAX_VALUE_CHARS, PICKLED_PLACEHOLDER, preview_rows
from airflow_dististage.runtime.run_report import read_run_report, step_report
from airflow_dististage.runtime.store import BatchStore
from airflow_dististage.steps import StepInput, StepResources, step
from tests.runtime.steps_for_tests import AddOne, Numbers, RecordPid, Total

ROWS = 100


def _store(path: str, pipeline: Pipeline) -> BatchStore:
    return BatchStore(path, pipeline.name, LOCAL_RUN_ID, allow_pickle=pipeline.allow_pickle)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pipeline, BatchStore]:
    """Generator (4 rows a part: 25 parts) >> two GPU replicas >> global step, run to the end."""
    folder = tmp_path_factory.mktemp("report")
    path = str(folder / "store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISTISTAGE_GPUS", "0,1")
        patch.setenv("DISTISTAGE_GPU_LOCK_DIR", str(folder / "locks"))
        with Pipeline(name="report") as pipeline:
            (
                Numbers(count=ROWS, batch_size=4)
                >> RecordPid(input_batch_size=10, resources=StepResources(replicas=2, gpus=1))
                >> Total()
            )
        pipeline.run(storage_parameters={"path": path}, use_cache=False)
    return pipeline, _store(path, pipeline)


def test_the_manifest_gives_back_the_plan_and_lineages(finished_run) -> None:
    pipeline, store = finished_run
    manifest = read_run_manifest(store)
    plan = pipeline.plan()

    assert manifest.plan == plan
    assert manifest.fingerprints == lineage_fingerprints(pipeline, plan)


def test_report_of_a_finished_run_matches_its_markers(finished_run) -> None:
    pipeline, store = finished_run
    report = read_run_report(store)

    assert [[s.name for s in stage.steps] for stage in report.stages] == [
        list(stage.steps) for stage in pipeline.plan().stages
    ]
    assert report.state == "finished"
    numbers, record, total = report.steps.values()
    assert (numbers.state, numbers.kind, numbers.total("rows_out"), numbers.total("batches_out")) == (
        "finished", "generator", ROWS, 25,
    )
    assert (record.total("rows_in"), record.total("rows_out"), record.total("batches_out")) == (ROWS, ROWS, 10)
    assert (total.total("rows_in"), total.total("rows_out"), total.stage) == (ROWS, 1, 1)
    assert all(replica.gpus == () for replica in numbers.replicas)
    data = store.step("record_pid_0", read_run_manifest(store).fingerprints["record_pid_0"])
    for replica in record.replicas:
        marker = data.read_marker("finished", replica.replica)
        assert (replica.generation, replica.attempt, replica.rows_out) == (marker["generation"], 1, 50)
        sequences = data.part_sequences(replica.generation)
        rows = [row for sequence in sequences for row in data.read_part(replica.generation, sequence)]
        assert len(replica.gpus) == 1 and {row["gpus"] for row in rows} == {str(replica.gpus[0])}, "the GPU it held"
    assert (record.total("input_tokens"), record.total("output_tokens")) == (0, 0)  # a step without an LLM
    assert record.rows_per_second > 0
    answer = json.loads(json.dumps(report.as_dict()))
    assert answer["stages"][0]["steps"][1]["replicas"][0]["gpus"] in ([0], [1])


def test_report_and_preview_need_only_the_store_api(tmp_path) -> None:
    """On an object store (fsspec's memory filesystem: one put per object, no folders, no os.*)."""
    with Pipeline(name="objects") as pipeline:
        Numbers(count=30, batch_size=10) >> AddOne()
    plan = pipeline.plan()
    fingerprints = lineage_fingerprints(pipeline, plan)
    store = BatchStore(f"memory://{tmp_path.name}/store", pipeline.name, "run")
    write_run_manifest(store, plan, fingerprints)
    for name in plan.topological_order:
        StepExecution(pipeline, plan, store, name, fingerprints=fingerprints).run()

    report = read_run_report(store)
    data = store.step("add_one_0", fingerprints["add_one_0"])
    page = preview_rows(data, report.steps["add_one_0"], offset=8, limit=4)

    assert (report.state, report.steps["add_one_0"].total("rows_out")) == ("finished", 30)
    assert page.rows == [[9], [10], [11], [12]]


def test_without_a_manifest_there_is_no_report(tmp_path) -> None:
    assert read_run_report(BatchStore(str(tmp_path), "nothing", "run")) is None


def test_preview_pages_through_parts_of_every_replica(finished_run) -> None:
    _, store = finished_run
    manifest = read_run_manifest(store)
    data = store.step("record_pid_0", manifest.fingerprints["record_pid_0"])
    report = step_report(data, manifest.plan.steps["record_pid_0"], time.time())

    page = preview_rows(data, report, offset=5, limit=10)

    assert page.columns == ["n", "pid", "gpus"]
    assert [row[0] for row in page.rows] == list(range(5, 15))
    assert len({row[1] for row in page.rows}) == 2, "parts 0 and 1 come from the two replicas' generations"
    assert (page.has_more, page.limited) == (True, False)
    last = preview_rows(data, report, offset=95, limit=10)
    assert ([row[0] for row in last.rows], last.has_more) == (list(range(95, 100)), False)


def test_preview_reads_only_the_first_parts(finished_run) -> None:
    _, store = finished_run
    manifest = read_run_manifest(store)
    data = store.step("numbers_0", manifest.fingerprints["numbers_0"])
    report = step_report(data, manifest.plan.steps["numbers_0"], time.time())
    covered = 4 * MAX_PREVIEW_PARTS  # rows of the parts a preview may read

    before = preview_rows(data, report, offset=covered - 3, limit=10)
    beyond = preview_rows(data, report, offset=covered, limit=10)

    assert [row[0] for row in before.rows] == [covered - 3, covered - 2, covered - 1]
    assert (before.has_more, before.limited) == (False, True)
    assert (beyond.rows, beyond.limited) == ([], True)


class Opaque:
    """A value Arrow cannot hold: stored pickled."""


@step(outputs=["text", "blob", "nested", "ratio", "markup", "opaque"], step_type="generator")
def Awkward(offset: int = 0):
    yield [
        {
            "text": "x" * 1000,
            "blob": b"abc",
            "nested": {"a": [1, 2], "b": "y" * 500},
            "ratio": math.nan,
            "markup": "<script>alert(1)</script>",
            "opaque": Opaque(),
        }
    ], True


@step(inputs=["opaque"], outputs=["kind"])
def Describe(inputs: StepInput):
    """A Distiset holds Arrow data only: the leaf turns the objects into text."""
    yield [{"kind": type(row["opaque"]).__name__} for row in inputs]


def test_preview_shortens_values_and_never_unpickles(tmp_path) -> None:
    with Pipeline(name="awkward", allow_pickle=True) as pipeline:
        Awkward(name="awkward") >> Describe()
    pipeline.run(storage_parameters={"path": str(tmp_path)})
    store = _store(str(tmp_path), pipeline)
    manifest = read_run_manifest(store)
    data = store.step("awkward", manifest.fingerprints["awkward"])

    (row,) = preview_rows(data, step_report(data, manifest.plan.steps["awkward"], time.time())).rows

    text, blob, nested, ratio, markup, opaque = row
    assert len(text) == MAX_VALUE_CHARS and text.endswith("…")
    assert blob == "<3 bytes>"
    assert nested.startswith('{"a": [1, 2], "b": "yyy') and len(nested) == MAX_VALUE_CHARS
    assert ratio == "nan"
    assert markup == "<script>alert(1)</script>", "the page shows it as text"
    assert opaque == PICKLED_PLACEHOLDER


def test_report_of_a_failed_run_names_the_error(tmp_path) -> None:
    with Pipeline(name="failing") as pipeline:
        Numbers(count=30, batch_size=10) >> AddOne(fail_at=15)
    with pytest.raises(StepFailedError):
        pipeline.run(storage_parameters={"path": str(tmp_path)})

    report = read_run_report(_store(str(tmp_path), pipeline))

    numbers, add_one = report.steps.values()
    assert add_one.state == "failed" and report.state == "failed"
    assert "boom at n=15" in add_one.replicas[0].error
    assert numbers.state in ("finished", "failed", "running")


def test_a_running_replica_shows_its_heartbeat_tokens_and_gpus(tmp_path) -> None:
    with Pipeline(name="live") as pipeline:
        Numbers(count=20) >> AddOne(resources=StepResources(replicas=2))
    plan = pipeline.plan()
    fingerprints = lineage_fingerprints(pipeline, plan)
    store = _store(str(tmp_path), pipeline)
    write_run_manifest(store, plan, fingerprints)
    generator = StepExecution(pipeline, plan, store, "numbers_0", fingerprints=fingerprints)
    generator.generation = "0a"
    progress = StepProgress("numbers_0")
    progress.produced(7)
    generator.publish_heartbeat(progress)
    data = store.step("add_one_0", fingerprints["add_one_0"])
    beat = time.time() - 4
    payload = {"generation": "0b", "attempt": 2, "incarnation": "i", "heartbeat": beat, "rows_out": 3, "seconds": 2.0}
    data.write_marker("started", {**payload, "input_tokens": 120, "output_tokens": 30, "gpus": [1]}, replica=1)
    data.write_marker("started", {**payload, "heartbeat": None}, replica=0)

    report = read_run_report(store, now=beat + 4)

    numbers, add_one = report.steps.values()
    assert (numbers.state, numbers.total("rows_out"), numbers.replicas[0].generation) == ("running", 7, "0a")
    waiting, running = add_one.replicas
    assert (waiting.state, running.state, add_one.state, report.state) == ("waiting", "running", "running", "running")
    assert (running.heartbeat_age, running.gpus, running.attempt, running.incarnation) == (4.0, (1,), 2, "i")
    assert (add_one.total("input_tokens"), add_one.total("output_tokens")) == (120, 30)
    assert running.rows_per_second == 1.5
