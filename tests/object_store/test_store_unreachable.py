"""A store that cannot be reached fails with a message naming its URL and connection, never a secret.

Each test has a connection id of its own: Airflow keeps one filesystem per connection id per process.
"""

from __future__ import annotations

import time

import pytest

from airflow_dististage.runtime.store import BatchStore, StoreUnreachableError
from tests.object_store.conftest import ACCESS_KEY, SECRET_KEY, S3Server, connection_json, free_port

URL = "s3://dististage-tests/unreachable"


def _failure(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn_json: str | None) -> str:
    if conn_json is not None:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn_json)
    store = BatchStore(URL, "p", "run-1", conn_id=conn_id)
    began = time.monotonic()
    with pytest.raises(StoreUnreachableError) as caught:
        store.check_reachable()
    assert time.monotonic() - began < 20
    message = str(caught.value)
    assert URL in message and repr(conn_id) in message
    assert SECRET_KEY not in message and ACCESS_KEY not in message
    return message


def test_an_endpoint_refusing_connections(s3_connection: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    assert "EndpointConnectionError" in _failure(monkeypatch, "dististage_refusing", connection_json(closed))


def test_a_connection_that_is_not_defined(s3_connection: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "isn't defined" in _failure(monkeypatch, "dististage_undefined", None)
