"""compile_pipeline(load_groups="auto"): stages from gpus= or [dististage] gpus, and the errors without them."""

from __future__ import annotations

import pytest
from airflow.serialization.serialized_objects import DagSerialization

from airflow_dististage.compiler import CompileError
from airflow_dististage.compiler.dag import PLAN_ATTRIBUTE
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.planning import LoadGroupsError
from airflow_dististage.steps import LoadDataFromDicts, StepResources
from tests.compiler.conftest import Upper


def two_generations() -> Pipeline:
    """A loader feeding two 1-GPU steps."""
    with Pipeline(name="two-generations") as pipeline:
        LoadDataFromDicts(data=[{"instruction": "a"}]) >> [
            Upper(name=f"gen_{i}", resources=StepResources(gpus=1)) for i in range(2)
        ]
    return pipeline


def test_auto_stages_fit_the_gpus_given(compile_options):
    dag = two_generations().to_airflow(dag_id="auto_one", load_groups="auto", gpus=1, **compile_options)

    assert sorted(dag.task_group_dict["stage_0"].children) == ["gen_0", "load_data_from_dicts_0"]
    assert sorted(dag.task_group_dict["stage_1"].children) == ["gen_1"]
    assert dag.get_task("gen_1").upstream_task_ids == {"gen_0", "load_data_from_dicts_0"}
    assert getattr(dag, PLAN_ATTRIBUTE).gpus == 1


def test_the_gpus_setting_is_used_without_gpus(compile_options, monkeypatch):
    monkeypatch.setenv("AIRFLOW__DISTISTAGE__GPUS", "2")
    dag = two_generations().to_airflow(dag_id="auto_two", load_groups="auto", **compile_options)

    assert sorted(dag.task_group_dict) == ["stage_0"]
    assert sorted(dag.task_group_dict["stage_0"].children) == ["gen_0", "gen_1", "load_data_from_dicts_0"]
    assert getattr(dag, PLAN_ATTRIBUTE).gpus == 2
    explicit = two_generations().to_airflow(dag_id="auto_two", load_groups="auto", gpus=2, **compile_options)
    assert DagSerialization.to_dict(dag) == DagSerialization.to_dict(explicit)


@pytest.mark.parametrize(
    ("setting", "gpus", "error", "message"),
    [
        (None, None, CompileError, r"needs the GPUs one load stage may use: pass gpus=N .* \[dististage\] gpus"),
        ("two", None, CompileError, r"\[dististage\] gpus must be an integer >= 0, got 'two'"),
        (None, -2, CompileError, r"gpus must be an integer >= 0, got -2"),
        (None, 0, LoadGroupsError, r"Step 'gen_0' needs 1 GPU\(s\).*at most 0 GPU\(s\)"),
    ],
)
def test_auto_without_a_usable_gpu_count_fails_at_compile_time(
    setting, gpus, error, message, compile_options, monkeypatch
):
    if setting is None:
        monkeypatch.delenv("AIRFLOW__DISTISTAGE__GPUS", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__DISTISTAGE__GPUS", setting)
    with pytest.raises(error, match=message):
        two_generations().to_airflow(dag_id="auto_bad", load_groups="auto", gpus=gpus, **compile_options)


def test_gpus_with_explicit_load_groups_is_refused(compile_options):
    with pytest.raises(LoadGroupsError, match=r"gpus=2 is only used with load_groups='auto'"):
        two_generations().to_airflow(dag_id="auto_groups", load_groups=[["gen_1"]], gpus=2, **compile_options)
