"""A reader polling for new parts on S3 is never answered from s3fs's cached listing."""

from __future__ import annotations

from airflow_dististage.runtime.store import BatchStore, part_name
from tests.object_store.conftest import CONN_ID, S3Server


def test_parts_written_by_another_client_are_seen_at_the_next_poll(s3_connection: S3Server) -> None:
    reader = BatchStore(f"s3://{s3_connection.bucket}/listing", "p", "run-1", conn_id=CONN_ID)
    data = reader.step("square", "ab12")
    data.write_part("00ff", 0, [{"n": 1}])
    assert data.part_sequences("00ff") == [0]  # this listing is now in the reader's cache
    assert reader.fs.dircache, "s3fs keeps directory listings: the test needs its cache on"

    other_worker = s3_connection.filesystem()
    other_worker.pipe_file(f"{data.path}/parts/{part_name(1, '00ff')}", data.read_part_bytes("00ff", 0))

    assert data.part_sequences("00ff") == [0, 1]
    assert data.read_part("00ff", 1) == [{"n": 1}]
    assert reader.list_names(f"{data.path}/parts") == [part_name(0, "00ff"), part_name(1, "00ff")]
