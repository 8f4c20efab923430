"""A moto S3 server on loopback, a bucket in it and an Airflow connection to it (an ``AIRFLOW_CONN_*``
variable), with no ``AWS_*`` variable set: the connection is the only way to the bucket."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

CONN_ID = "dististage_test_s3"
ACCESS_KEY = "AKIADISTISTAGETEST01"
SECRET_KEY = "sEcReT-dististage-never-logged-" + uuid.uuid4().hex


@dataclass(frozen=True)
class S3Server:
    """The moto server's endpoint, its bucket and the connection variable that reaches it."""

    endpoint: str
    bucket: str

    @property
    def conn_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_<ID>`` of :data:`CONN_ID`, JSON form."""
        return {f"AIRFLOW_CONN_{CONN_ID.upper()}": connection_json(self.endpoint)}

    def filesystem(self):
        """An s3fs filesystem of its own (no instance cache) for the test's checks."""
        import s3fs

        return s3fs.S3FileSystem(
            key=ACCESS_KEY, secret=SECRET_KEY, skip_instance_cache=True, use_listings_cache=False,
            client_kwargs={"endpoint_url": self.endpoint, "region_name": "us-east-1"},
        )


def connection_json(endpoint: str, secret: str = SECRET_KEY) -> str:
    """An AWS connection to ``endpoint`` in ``AIRFLOW_CONN_*`` JSON form (one attempt per request:
    a test of an unreachable endpoint fails fast)."""
    extra = {"endpoint_url": endpoint, "region_name": "us-east-1", "config_kwargs": {"retries": {"max_attempts": 1}}}
    return json.dumps({"conn_type": "aws", "login": ACCESS_KEY, "password": secret, "extra": extra})


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def without_aws_variables(env: dict[str, str]) -> dict[str, str]:
    """``env`` without ``AWS_*`` variables (credentials, endpoint, profile)."""
    return {key: value for key, value in env.items() if not key.startswith("AWS_")}


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 with one bucket, stopped at the end of the session; its request
    recorder (``/moto-api/recorder/...``) writes to a temporary file."""
    os.environ.setdefault("MOTO_RECORDER_FILEPATH", str(tmp_path_factory.mktemp("moto") / "recording"))
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        s3 = S3Server(endpoint=f"http://127.0.0.1:{port}", bucket="dististage-tests")
        create = urllib.request.Request(f"{s3.endpoint}/{s3.bucket}", method="PUT")
        urllib.request.urlopen(create, timeout=10).close()  # moto's default region: us-east-1
        yield s3
    finally:
        server.stop()


@pytest.fixture
def s3_connection(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The server, with its connection in this process's environment and no ``AWS_*`` variable."""
    for key in [key for key in os.environ if key.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in s3_server.conn_env.items():
        monkeypatch.setenv(key, value)
    return s3_server
