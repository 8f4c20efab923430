"""The compiled DAG's shape: TaskGroups, barrier tasks, edges, pools, replicas, queue, docs."""

from __future__ import annotations

import re

import pytest

from airflow_dististage import compile_pipeline
from airflow_dististage.compiler import CompileError, distiset_asset
from airflow_dististage.planning import LoadGroupsError
from airflow_dististage.pipeline import Pipeline, PipelineValidationError
from airflow_dististage.steps import LoadDataFromDicts, StepResources
from tests.compiler.conftest import Upper, build_gpu_pipeline


def test_each_non_global_stage_is_a_task_group_and_each_global_step_a_barrier(gpu_pipeline, compile_options):
    dag = gpu_pipeline.to_airflow(dag_id="shape", **compile_options)

    assert sorted(dag.task_group_dict) == ["stage_0", "stage_2"]
    assert sorted(dag.task_group_dict["stage_0"].children) == ["first", "load_data_from_dicts_0"]
    assert sorted(dag.task_group_dict["stage_2"].children) == ["cpu", "second"]
    assert dag.get_task("dedup").task_group.is_root
    assert dag.task_ids == [
        "check_gpu_pool", "load_data_from_dicts_0", "first", "dedup", "second", "cpu", "publish_distiset"
    ]


def test_stages_follow_each_other_and_tasks_of_a_stage_start_together(gpu_pipeline, compile_options):
    dag = gpu_pipeline.to_airflow(dag_id="edges", **compile_options)
    upstream = {task.task_id: sorted(task.upstream_task_ids) for task in dag.tasks}

    assert upstream == {
        "check_gpu_pool": [],
        "load_data_from_dicts_0": ["check_gpu_pool"],
        "first": ["check_gpu_pool"],
        "dedup": ["first", "load_data_from_dicts_0"],
        "second": ["dedup"],
        "cpu": ["dedup"],
        "publish_distiset": ["cpu", "second"],
    }


def test_gpu_steps_take_one_pool_slot_per_gpu_and_replicas_are_mapped(gpu_pipeline, compile_options):
    dag = gpu_pipeline.to_airflow(dag_id="pools", gpu_pool="gpus", queue="gpu_queue", **compile_options)
    first, second, cpu = (dag.get_task(name) for name in ("first", "second", "cpu"))

    assert (first.pool, first.partial_kwargs["pool_slots"], first.queue) == ("gpus", 1, "gpu_queue")
    assert first.op_kwargs_expand_input.value == {"replica": [0, 1]}
    assert (second.pool, second.pool_slots, second.queue) == ("gpus", 2, "gpu_queue")
    assert not hasattr(second, "op_kwargs_expand_input")
    assert cpu.pool == "default_pool" and cpu.pool_slots == 1 and cpu.queue != "gpu_queue"


def test_without_gpu_steps_there_is_no_pool_check(compile_options):
    with Pipeline(name="cpu-only") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "a"}]) >> Upper()
    dag = pipeline.to_airflow(dag_id="cpu_only", **compile_options)

    assert dag.task_ids == ["load_data_from_dicts_0", "upper_0", "publish_distiset"]
    assert {task.pool for task in dag.tasks} == {"default_pool"}


def test_publish_task_updates_the_distiset_asset(gpu_pipeline, compile_options):
    dag = gpu_pipeline.to_airflow(dag_id="assets", **compile_options)
    asset = distiset_asset("assets", compile_options["output"])

    assert asset.uri == f"file://{compile_options['output']}/assets"
    assert dag.get_task("publish_distiset").outlets == [asset]


def test_unknown_keywords_go_to_the_dag_and_user_docs_are_kept(gpu_pipeline, compile_options):
    dag = compile_pipeline(
        gpu_pipeline, dag_id="kwargs", max_active_runs=2, tags=["nightly"], doc_md="Mine.", **compile_options
    )

    assert dag.max_active_runs == 2
    assert dag.tags == {"nightly"}
    assert dag.doc_md.startswith("Mine.\n")
    assert dag.description == "A pipeline with GPU steps."


@pytest.mark.parametrize("user_doc", [None, ""])
def test_an_empty_user_doc_leaves_the_generated_doc(gpu_pipeline, compile_options, user_doc):
    dag = gpu_pipeline.to_airflow(dag_id="empty_doc", doc_md=user_doc, **compile_options)

    assert dag.doc_md.startswith("# Pipeline `gpu-pipeline`")


def test_doc_md_shows_each_steps_stage_resources_and_columns(gpu_pipeline, compile_options):
    doc = gpu_pipeline.to_airflow(dag_id="docs", gpu_pool="gpus", **compile_options).doc_md

    assert "6 steps" not in doc and "5 steps in 3 load stages" in doc
    assert "| 0 | `first` | normal | instruction | response | 2 replicas, 1 GPU(s) each in pool `gpus` |" in doc
    assert "| 1 | `dedup` | global | response | response | 1 replica | first |" in doc
    assert "| 2 | `second` | normal | response | response | 1 replica, 2 GPU(s) each in pool `gpus` |" in doc
    assert "  dedup --> second" in doc and 'subgraph stage_1["stage 1 (global)"]' in doc
    assert f"- Batch store: `{compile_options['store']}/docs/<run_id>/`" in doc


def test_load_groups_split_stages(compile_options):
    pipeline = build_gpu_pipeline()
    dag = pipeline.to_airflow(dag_id="groups", load_groups=[["cpu"]], **compile_options)

    assert sorted(dag.task_group_dict) == ["stage_0", "stage_2", "stage_3"]
    assert dag.get_task("cpu").upstream_task_ids == {"second"}


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"dag_id": "bad id"}, CompileError, "Invalid dag_id 'bad id'"),
        ({"dag_id": "x", "load_groups": [["nope"]]}, LoadGroupsError, "'nope', which is not in the pipeline"),
        ({"dag_id": "x", "gpu_pool_slots": 1}, CompileError, "Step 'second' needs 2 GPU(s) per replica"),
        ({"dag_id": "x", "params": {"cpu__suffix": 1}}, CompileError, "clashes with the runtime parameter"),
        ({"dag_id": "x", "params": {"cpu__sufix": 1}}, CompileError, "Did you mean 'cpu__suffix'?"),
        ({"dag_id": "x", "reschedule_seconds": 0}, CompileError, "reschedule_seconds must be a positive"),
    ],
)
def test_bad_inputs_fail_at_compile_time_naming_the_culprit(arguments, error, message, compile_options):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_gpu_pipeline().to_airflow(**arguments, **compile_options)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"check_gpu_pool": "loud"}, "check_gpu_pool must be one of ('strict', 'warn'), got 'loud'"),
        ({"gpu_claim_timeout_seconds": 0}, "gpu_claim_timeout_seconds must be a positive number"),
        ({"step_retries": "3"}, "step_retries must be an integer >= 0, got '3'"),
        ({"default_args": {"retries": "3"}}, "default_args['retries'] (the step tasks' retries) must be an integer"),
    ],
)
def test_bad_options_name_the_option_as_the_user_gave_it(arguments, message, compile_options):
    with pytest.raises(CompileError, match=re.escape(message)):
        build_gpu_pipeline().to_airflow(dag_id="x", **arguments, **compile_options)


@pytest.mark.parametrize("option", ["store", "output"])
def test_relative_folders_are_refused_naming_the_option(option, compile_options):
    compile_options[option] = "relative/folder"

    with pytest.raises(CompileError, match=f"Compile option {option}='relative/folder' is a relative folder"):
        build_gpu_pipeline().to_airflow(dag_id="x", **compile_options)


def test_urls_and_absolute_folders_are_accepted(compile_options):
    dag = build_gpu_pipeline().to_airflow(dag_id="x", store="s3://bucket/store", output=compile_options["output"])

    assert dag.dag_id == "x"


@pytest.mark.parametrize("url", ["memory://store", "simplecache::memory://store"])
@pytest.mark.parametrize("option", ["store", "output"])
def test_a_store_private_to_one_process_is_refused_naming_the_option(option, url, compile_options):
    compile_options[option] = url

    with pytest.raises(CompileError, match=re.escape(f"Compile option {option}={url!r} is private to one process")):
        build_gpu_pipeline().to_airflow(dag_id="x", **compile_options)


def test_a_step_named_like_a_replica_of_another_is_refused(compile_options):
    with Pipeline(name="clash") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": "a"}])
        load >> Upper(name="gen", resources=StepResources(replicas=2))
        load >> Upper(name="gen_1")

    with pytest.raises(CompileError, match="Step 'gen_1' has the name Airflow gives replica 1 of step 'gen'"):
        pipeline.to_airflow(dag_id="clash", **compile_options)


def test_an_invalid_pipeline_fails_at_compile_time(compile_options):
    with Pipeline(name="broken") as pipeline:
        LoadDataFromDicts(data=[{"question": "a"}]) >> Upper()

    with pytest.raises(PipelineValidationError, match="Step 'upper_0' needs column 'instruction'"):
        pipeline.to_airflow(dag_id="broken", **compile_options)


def test_config_defaults_fill_store_output_and_pool(gpu_pipeline, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__DISTISTAGE__OUTPUT", str(tmp_path / "configured"))
    monkeypatch.setenv("AIRFLOW__DISTISTAGE__GPU_POOL", "configured_pool")
    dag = gpu_pipeline.to_airflow(dag_id="configured")

    assert dag.get_task("second").pool == "configured_pool"
    assert dag.get_task("publish_distiset").outlets[0].uri == f"file://{tmp_path}/configured/configured"


def test_step_tasks_retry_unless_told_otherwise_and_the_pool_check_never_does(compile_options):
    dag = build_gpu_pipeline().to_airflow(dag_id="retries", reschedule_seconds=2, **compile_options)
    assert (dag.get_task("dedup").retries, dag.get_task("dedup").retry_delay.total_seconds()) == (2, 2.0)
    assert dag.get_task("first").partial_kwargs["retries"] == 2
    assert dag.get_task("check_gpu_pool").retries == 0

    quiet = build_gpu_pipeline().to_airflow(dag_id="no_retries", default_args={"retries": 0}, **compile_options)
    assert quiet.get_task("dedup").retries == 0

    explicit = build_gpu_pipeline().to_airflow(
        dag_id="explicit", step_retries=5, default_args={"retries": 0, "retry_delay": 60}, **compile_options
    )
    assert explicit.get_task("cpu").retries == 5
    assert explicit.get_task("cpu").retry_delay.total_seconds() == 60


def test_longest_retry_delay_follows_airflows_backoff_rules() -> None:
    from datetime import timedelta
    from types import SimpleNamespace

    from airflow_dististage.compiler.tasks import longest_retry_delay

    def ti(try_number: int, **task: object) -> SimpleNamespace:
        defaults = {"retry_delay": timedelta(seconds=10), "retry_exponential_backoff": 0, "max_retry_delay": None}
        return SimpleNamespace(try_number=try_number, task=SimpleNamespace(**{**defaults, **task}))

    assert longest_retry_delay(ti(3)) == 10
    assert longest_retry_delay(ti(3, retry_exponential_backoff=2)) == 2 * 10 * 2**2
    assert longest_retry_delay(ti(3, retry_exponential_backoff=2, max_retry_delay=timedelta(seconds=30))) == 30
