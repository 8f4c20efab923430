"""The GPU-pool check against a real HTTP server that answers like the provider plugin's pool route."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_dististage.compiler import GpuPoolError
from airflow_dististage.compiler.graph import build_dag_spec
from airflow_dististage.compiler.options import CompileOptions
from airflow_dististage.compiler.tasks import check_gpu_pool
from tests.compiler.conftest import build_gpu_pipeline


class _PoolsApi(BaseHTTPRequestHandler):
    pools: dict[str, int] = {}
    status_override: int | None = None

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        name = self.path.removeprefix("/dististage/pools/")
        if self.status_override is not None:
            status, body = self.status_override, {"detail": "no"}
        elif name in self.pools:
            status, body = 200, {"name": name, "slots": self.pools[name], "occupied_slots": 0}
        else:
            status, body = 404, {"detail": f"The Pool with name: `{name}` was not found"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pools_api(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PoolsApi)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/")
    _PoolsApi.pools, _PoolsApi.status_override = {}, None
    yield _PoolsApi
    server.shutdown()
    server.server_close()


@pytest.fixture
def spec(tmp_path):
    options = CompileOptions(dag_id="pools", store=str(tmp_path), output=str(tmp_path), gpu_pool="gpus")
    return build_dag_spec(build_gpu_pipeline().plan(), options)


def test_a_missing_pool_fails_naming_the_pool_and_the_steps_needs(pools_api, spec):
    with pytest.raises(GpuPoolError, match=r"GPU pool 'gpus' does not exist.*\{'first': 1, 'second': 2\}"):
        check_gpu_pool(spec)


def test_a_too_small_pool_fails_naming_its_size_and_the_step(pools_api, spec):
    pools_api.pools = {"gpus": 1}

    with pytest.raises(GpuPoolError, match=r"'gpus' has 1 slot\(s\), but step\(s\) \{'second': 2\} need more"):
        check_gpu_pool(spec)


@pytest.mark.parametrize("slots", [2, 8, -1])
def test_a_pool_that_holds_every_step_passes(pools_api, spec, slots):
    pools_api.pools = {"gpus": slots}

    assert check_gpu_pool(spec) == {"pool": "gpus", "checked": True, "slots": slots}


def test_an_api_that_refuses_lets_the_run_go_on(pools_api, spec):
    pools_api.status_override = 403

    assert check_gpu_pool(spec) == {"pool": "gpus", "checked": False}


def test_an_unreachable_api_lets_the_run_go_on(monkeypatch, spec):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", f"http://127.0.0.1:{port}")

    assert check_gpu_pool(spec) == {"pool": "gpus", "checked": False}
