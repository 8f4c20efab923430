"""The GPU-pool check against a real HTTP server that answers like the provider plugin's pool route,
or like an api-server without the plugin (the UI's HTML page, a redirect, an error)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_dististage.compiler import GpuPoolError
from airflow_dististage.compiler.graph import build_dag_spec
from airflow_dististage.compiler.options import CompileOptions
from airflow_dististage.compiler.tasks import verify_gpu_pool
from tests.compiler.conftest import build_gpu_pipeline

PLUGIN_PREFIX = "/dististage/pools/"
UI_PAGE = b"<!doctype html><html><body>Airflow</body></html>"


class _ApiServer(BaseHTTPRequestHandler):
    """Answers the pool route like the plugin (``plugin=True``) or like an api-server without it."""

    pools: dict[str, int] = {}
    plugin = True
    forced: tuple[int, dict] | None = None

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.forced is not None:
            self._send(self.forced[0], "application/json", json.dumps(self.forced[1]).encode())
        elif not self.plugin:  # the UI's catch-all route
            self._send(200, "text/html; charset=utf-8", UI_PAGE)
        else:
            name = self.path.removeprefix(PLUGIN_PREFIX)
            if name in self.pools:
                status, body = 200, {"name": name, "slots": self.pools[name]}
            else:
                status, body = 404, {"name": name, "slots": None, "detail": f"Pool {name!r} does not exist."}
            self._send(status, "application/json", json.dumps(body).encode())

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api_server(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ApiServer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/")
    _ApiServer.pools, _ApiServer.plugin, _ApiServer.forced = {}, True, None
    yield _ApiServer
    server.shutdown()
    server.server_close()


def _spec(tmp_path, mode: str = "strict"):
    options = CompileOptions(
        dag_id="pools", store=str(tmp_path), output=str(tmp_path), gpu_pool="gpus", check_gpu_pool=mode
    )
    return build_dag_spec(build_gpu_pipeline().plan(), options)


@pytest.fixture
def spec(tmp_path):
    return _spec(tmp_path)


def test_a_missing_pool_fails_naming_the_pool_and_the_steps_needs(api_server, spec):
    with pytest.raises(GpuPoolError, match=r"GPU pool 'gpus' does not exist.*\{'first': 1, 'second': 2\}"):
        verify_gpu_pool(spec)


def test_a_too_small_pool_fails_naming_its_size_and_the_step(api_server, spec):
    api_server.pools = {"gpus": 1}

    with pytest.raises(GpuPoolError, match=r"'gpus' has 1 slot\(s\), but step\(s\) \{'second': 2\} need more"):
        verify_gpu_pool(spec)


@pytest.mark.parametrize("slots", [2, 8, -1])
def test_a_pool_that_holds_every_step_passes(api_server, spec, slots):
    api_server.pools = {"gpus": slots}

    assert verify_gpu_pool(spec) == {"pool": "gpus", "checked": True, "slots": slots}


def test_without_the_plugin_the_ui_page_fails_the_check_saying_what_to_install(api_server, spec):
    api_server.plugin = False

    with pytest.raises(GpuPoolError, match=r"could not run: .* answered 200 with text/html.* that is not JSON"
                       r".*Install airflow-dististage on the api-server"):
        verify_gpu_pool(spec)


@pytest.mark.parametrize(
    ("status", "body", "why"),
    [
        (404, {"detail": "Not Found"}, "answered 404 without a 'slots' key"),  # not the plugin's 404
        (403, {"detail": "Forbidden"}, "answered 403 without a 'slots' key"),
        (307, {}, "answered 307 without a 'slots' key"),
        (500, {"slots": 4}, "answered 500 with slots=4"),
        (200, {"slots": "4"}, "answered 200 with slots='4'"),
    ],
)
def test_any_other_answer_fails_the_check_as_not_run(api_server, spec, status, body, why):
    api_server.forced = (status, body)

    with pytest.raises(GpuPoolError, match=f"could not run: .*{why}"):
        verify_gpu_pool(spec)


def _closed_port_url() -> str:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_an_unreachable_api_fails_the_check(monkeypatch, spec):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", _closed_port_url())

    with pytest.raises(GpuPoolError, match="could not run: .* cannot be reached"):
        verify_gpu_pool(spec)


def test_in_warn_mode_an_unchecked_pool_lets_the_run_go_on(monkeypatch, api_server, tmp_path, caplog):
    api_server.plugin = False
    warn = _spec(tmp_path, "warn")

    assert verify_gpu_pool(warn) == {"pool": "gpus", "checked": False}
    assert "Install airflow-dististage on the api-server" in caplog.text
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", _closed_port_url())
    assert verify_gpu_pool(warn) == {"pool": "gpus", "checked": False}


def test_in_warn_mode_a_missing_pool_still_fails(api_server, tmp_path):
    with pytest.raises(GpuPoolError, match="does not exist"):
        verify_gpu_pool(_spec(tmp_path, "warn"))


@pytest.mark.parametrize("mode", ["strict", "warn"])
def test_a_pool_smaller_than_an_auto_plans_gpus_fails_naming_both(api_server, tmp_path, mode):
    options = CompileOptions(
        dag_id="pools", store=str(tmp_path), output=str(tmp_path), gpu_pool="gpus", check_gpu_pool=mode
    )
    spec = build_dag_spec(build_gpu_pipeline().plan("auto", gpus=3), options)
    api_server.pools = {"gpus": 2}

    with pytest.raises(GpuPoolError, match=r"'gpus' has 2 slot\(s\), but the load stages were planned for 3 GPU\(s\)"):
        verify_gpu_pool(spec)
    api_server.pools = {"gpus": 3}
    assert verify_gpu_pool(spec)["slots"] == 3
