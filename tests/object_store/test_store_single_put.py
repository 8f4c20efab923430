"""On S3 every part and marker is one PUT of the whole object: no temporary object, no copy, no rename."""

from __future__ import annotations

import json
import urllib.request

from airflow_dististage.runtime.store import BatchStore
from tests.object_store.conftest import CONN_ID, S3Server


def _moto_api(s3: S3Server, action: str) -> bytes:
    request = urllib.request.Request(f"{s3.endpoint}/moto-api/recorder/{action}", method="POST" if "download" not in action else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def test_a_part_and_a_marker_are_one_put_each(s3_connection: S3Server) -> None:
    store = BatchStore(f"s3://{s3_connection.bucket}/single-put", "p", "run-1", conn_id=CONN_ID)
    data = store.step("square", "ab12")
    store.check_reachable()
    _moto_api(s3_connection, "reset-recording")
    _moto_api(s3_connection, "start-recording")
    try:
        data.write_part("00ff", 0, [{"n": 1}, {"n": 2}])
        data.write_marker("finished", {"batches": 1})
    finally:
        _moto_api(s3_connection, "stop-recording")
    recorded = [json.loads(line) for line in _moto_api(s3_connection, "download-recording").splitlines() if line.strip()]
    writes = [(entry["method"], entry["url"].split("?")[0]) for entry in recorded if entry["method"] != "GET"]
    part = f"/{s3_connection.bucket}/single-put/p/run-1/square/ab12/parts/000000000.00ff.arrow"
    marker = f"/{s3_connection.bucket}/single-put/p/run-1/square/ab12/markers/finished-0.json"
    assert [(method, url.split(s3_connection.endpoint)[-1]) for method, url in writes] == [("PUT", part), ("PUT", marker)]
    assert data.read_part("00ff", 0) == [{"n": 1}, {"n": 2}]
    assert data.read_marker("finished") == {"batches": 1}
