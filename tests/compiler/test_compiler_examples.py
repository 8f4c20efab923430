"""The example DAG files parse in a plain Airflow dags folder, without heavy imports, as documented."""

from __future__ import annotations

import subprocess
import sys

from airflow.dag_processing.dagbag import DagBag

from tests.conftest import REPO_ROOT

EXAMPLES = REPO_ROOT / "dags_examples"


def test_every_example_imports_without_errors():
    bag = DagBag(dag_folder=str(EXAMPLES))

    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == [
        "nightly_generation", "report_nightly_distiset", "seed_pipeline", "two_vllm_generations"
    ]


def test_two_vllm_generations_run_one_after_the_other_on_the_gpu_pool():
    dag = DagBag(dag_folder=str(EXAMPLES / "two_vllm_generations.py")).dags["two_vllm_generations"]

    assert sorted(dag.task_group_dict["stage_0"].children) == ["load_data_from_dicts_0", "text_generation_0"]
    assert sorted(dag.task_group_dict["stage_1"].children) == ["text_generation_1"]
    assert dag.get_task("text_generation_1").upstream_task_ids == {"load_data_from_dicts_0", "text_generation_0"}
    for name in ("text_generation_0", "text_generation_1"):
        assert (dag.get_task(name).pool, dag.get_task(name).pool_slots) == ("dististage_gpu", 1)
    assert dag.get_task("load_data_from_dicts_0").upstream_task_ids == {"check_gpu_pool"}


def test_nightly_generation_is_scheduled_with_params_and_feeds_an_asset_scheduled_dag():
    bag = DagBag(dag_folder=str(EXAMPLES / "nightly_generation.py"))
    nightly, report = bag.dags["nightly_generation"], bag.dags["report_nightly_distiset"]

    assert nightly.timetable.expression == "0 2 * * *"
    assert str(nightly.start_date.tzinfo) == "UTC"
    assert nightly.params["note"] == "nightly"
    assert nightly.params.get_param("text_generation__llm__generation_kwargs__temperature").value == 0.8
    published = nightly.get_task("publish_distiset").outlets[0]
    assert list(report.timetable.asset_condition.objects) == [published]


def test_the_seed_file_prints_its_stages_when_run_as_a_script():
    result = subprocess.run(
        [sys.executable, "seed_pipeline.py"], cwd=EXAMPLES, capture_output=True, text=True, timeout=120, check=True
    )

    assert result.stdout.splitlines() == [
        "Stage 0: ['load_data_from_dicts_0', 'dummy_step_0']",
        "Stage 1: ['global_dummy_step_0']",
        "Stage 2: ['dummy_step_1']",
    ]


def test_a_dag_file_needs_only_the_pipeline_and_one_call(tmp_path):
    (tmp_path / "one_call.py").write_text(
        "from airflow_dististage.pipeline import Pipeline\n"
        "from airflow_dististage.steps import LoadDataFromDicts\n"
        "with Pipeline(name='one-call') as pipeline:\n"
        "    LoadDataFromDicts(data=[{'a': 1}])\n"
        "pipeline.to_airflow(dag_id='one_call')\n"
    )
    bag = DagBag(dag_folder=str(tmp_path))

    assert bag.import_errors == {}
    assert bag.dags["one_call"].fileloc == str(tmp_path / "one_call.py")
