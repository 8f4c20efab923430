"""DAG ids: exactly those Airflow accepts compile, and what derives from them (folders, Asset URI) is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from airflow.sdk import DAG, Asset

from airflow_dististage.compiler import CompileError, distiset_asset
from airflow_dististage.pipeline import Pipeline
from airflow_dististage.runtime.folders import safe_folder_name
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
def test_a_dag_id_compiles_exactly_when_airflow_accepts_it(dag_id, compile_options):
    if _airflow_accepts(dag_id):
        assert _pipeline().to_airflow(dag_id=dag_id, **compile_options).dag_id == dag_id
        assert len(safe_folder_name(dag_id).encode()) <= 255
    else:
        with pytest.raises(CompileError, match=re.escape(f"Invalid dag_id {dag_id!r}: ")):
            _pipeline().to_airflow(dag_id=dag_id, **compile_options)


def test_long_names_get_short_distinct_folder_names() -> None:
    long_ids = ["é" * 43, "é" * 44, "a" * 250, "a" * 249 + "b"]
    folders = [safe_folder_name(dag_id) for dag_id in long_ids]
    assert len(set(folders)) == len(long_ids)
    assert all(len(folder.encode()) <= 255 for folder in folders)


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
