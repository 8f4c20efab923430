"""The run view opens a run's store with the connection its DAG was compiled with."""

from __future__ import annotations

from airflow_dististage.provider.run_lookup import RunLocation
from airflow_dististage.provider.run_view import run_store
from airflow_dististage.runtime.store import BatchStore
from tests.object_store.conftest import CONN_ID, S3Server


def test_the_run_view_reads_the_store_through_the_connection(s3_connection: S3Server) -> None:
    url = f"s3://{s3_connection.bucket}/run-view"
    BatchStore(url, "dag", "run-1", conn_id=CONN_ID).step("square", "ab12").write_marker("finished", {"rows": 3})
    location = RunLocation(dag_id="dag", run_id="run-1", state="success", store=url, store_conn_id=CONN_ID)
    store = run_store(location)
    assert store.conn_id == CONN_ID
    assert store.step("square", "ab12").read_marker("finished") == {"rows": 3}
