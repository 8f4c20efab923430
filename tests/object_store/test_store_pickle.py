"""A store on a connection pickles to its URL and connection id (the local runner and the executor
send stores across processes), never to its credentials, and works again once unpickled."""

from __future__ import annotations

import pickle

import pytest

from airflow_dististage.runtime.store import BatchStore
from tests.object_store.conftest import ACCESS_KEY, CONN_ID, SECRET_KEY, S3Server


def test_a_pickled_store_carries_the_connection_id_only(s3_connection: S3Server) -> None:
    store = BatchStore(f"s3://{s3_connection.bucket}/pickle", "p", "run-1", conn_id=CONN_ID, allow_pickle=True)
    store.step("square", "ab12").write_marker("started", {"generation": "00ff"})
    data = pickle.dumps(store)
    assert SECRET_KEY.encode() not in data and ACCESS_KEY.encode() not in data
    assert CONN_ID.encode() in data

    copy = pickle.loads(data)
    assert (copy.url, copy.conn_id, copy.run_path, copy.allow_pickle) == (
        store.url, CONN_ID, store.run_path, True
    )
    assert copy.step("square", "ab12").read_marker("started") == {"generation": "00ff"}
    assert SECRET_KEY not in repr(copy) and CONN_ID in repr(copy)


def test_a_connection_serves_object_storage_only() -> None:
    with pytest.raises(ValueError, match="not a local folder"):
        BatchStore("/tmp/store", "p", "run-1", conn_id=CONN_ID)
    with pytest.raises(ValueError, match="conn_id or storage_options"):
        BatchStore("s3://bucket/store", "p", "run-1", {"anon": True}, conn_id=CONN_ID)
