"""Compile-time checks of ``store_conn_id``, and where the compiled DAG records it (its id only)."""

from __future__ import annotations

import json

import pytest

from airflow_dististage.compiler import compile_pipeline
from airflow_dististage.compiler.graph import PUBLISH_TASK_ID
from airflow_dististage.compiler.options import CompileError, store_conn_of_dag_doc, store_of_dag_doc
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.steps import LoadDataFromDicts


def _pipeline() -> Pipeline:
    with Pipeline(name="conn-pipeline") as pipeline:
        LoadDataFromDicts(data=[{"n": 1}])
    return pipeline


def test_the_publish_task_records_the_connection_id(monkeypatch: pytest.MonkeyPatch) -> None:
    dag = compile_pipeline(
        _pipeline(), dag_id="conn_dag", store="s3://b/store", output="s3://b/output", store_conn_id="my_s3"
    )
    doc = dag.task_dict[PUBLISH_TASK_ID].doc_json
    assert json.loads(doc) == {"store": "s3://b/store", "output": "s3://b/output", "store_conn_id": "my_s3"}
    assert (store_of_dag_doc(doc), store_conn_of_dag_doc(doc)) == ("s3://b/store", "my_s3")


def test_the_connection_id_comes_from_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__DISTISTAGE__STORE_CONN_ID", "configured_s3")
    dag = compile_pipeline(_pipeline(), dag_id="conn_dag", store="s3://b/store", output="s3://b/output")
    assert store_conn_of_dag_doc(dag.task_dict[PUBLISH_TASK_ID].doc_json) == "configured_s3"


@pytest.mark.parametrize("option", ["store", "output"])
def test_a_local_folder_with_a_connection_is_refused(option: str, tmp_path) -> None:
    locations = {"store": "s3://b/store", "output": "s3://b/output", option: str(tmp_path)}
    with pytest.raises(CompileError, match=rf"{option}=.*local folder.*store_conn_id='my_s3'"):
        compile_pipeline(_pipeline(), dag_id="conn_dag", store_conn_id="my_s3", **locations)


def test_a_scheme_without_an_installed_provider_is_refused() -> None:
    with pytest.raises(CompileError, match=r"output='gs://b/output'.*no installed Airflow provider serves gs://"):
        compile_pipeline(_pipeline(), dag_id="conn_dag", store="s3://b/s", output="gs://b/output", store_conn_id="x")
