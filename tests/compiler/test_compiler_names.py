"""DAG ids: exactly those Airflow accepts compile, and what derives from them (folders, Asset URI) is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from airflow.sdk import DAG, Asset

from airflow_dististage.compiler import CompileError, distiset_asset
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime.store import safe_folder_name
from airflow_dististage.steps import LoadDataFromDicts
from tests.compiler.conftest import Upper

CANDIDATES = [
    "team.synth_données", "a", "x-y.z", "名前", "a" * 250, "é" * 42,
    "bad id", "a/b", "", "a" * 251, "tab\there", "emoji😀", "colon:x", "é" * 43,
]


def _pipeline(name: str = "names") -> Pipeline:
    with Pipeline(name=name) as pipeline:
        LoadDataFromDicts(data=[{"instruction": "a"}]) >> Upper(name="upper")
    return pipeline


def _airflow_accepts(dag_id: str) -> bool:
    try:
        DAG(dag_id, schedule=None)
    except (TypeError, ValueError):
        return False
    return True


@pytest.mark.parametrize("dag_id", CANDIDATES)
def test_a_dag_id_compiles_when_airflow_accepts_it_and_its_folder_fits(dag_id, compile_options):
    folder_fits = bool(dag_id) and len(safe_folder_name(dag_id).encode()) <= 255
    if _airflow_accepts(dag_id) and folder_fits:
        assert _pipeline().to_airflow(dag_id=dag_id, **compile_options).dag_id == dag_id
    else:
        with pytest.raises(CompileError, match=re.escape(f"Invalid dag_id {dag_id!r}: ")):
            _pipeline().to_airflow(dag_id=dag_id, **compile_options)


def test_a_dag_id_whose_folder_name_is_too_long_is_refused_saying_why(compile_options):
    with pytest.raises(CompileError, match=r"Invalid dag_id 'ééé.*255"):
        _pipeline().to_airflow(dag_id="é" * 43, **compile_options)


@pytest.mark.parametrize("dag_id", ["team.synth_données", "plain_id", "名前-1"])
def test_the_asset_uri_is_ascii_and_names_the_dags_output_folder(dag_id, tmp_path):
    output = tmp_path / "out put é"
    asset = distiset_asset(dag_id, str(output))

    assert asset.uri.isascii()
    assert asset.uri == (output / safe_folder_name(dag_id)).as_uri()
    assert Asset(uri=asset.uri).uri == asset.uri  # Airflow's own validation keeps it as is


def test_an_fsspec_output_keeps_its_url_and_gets_the_escaped_folder():
    assert distiset_asset("team.données", "s3://bucket/out/").uri == "s3://bucket/out/team.donn~c3~a9es"


def test_a_plain_dag_ids_asset_is_unchanged(tmp_path: Path):
    assert distiset_asset("seed_pipeline", str(tmp_path)).uri == f"file://{tmp_path}/seed_pipeline"
