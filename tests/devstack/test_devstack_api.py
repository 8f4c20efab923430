"""The dev stack's REST client and settings, against a real HTTP server on 127.0.0.1 (no Airflow)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_dististage.devstack import AirflowApi, AirflowApiError, AirflowDevStack, DevStackError


class FakeAirflow(BaseHTTPRequestHandler):
    """Answers from ``server.routes[(method, path)] = (status, body)`` and records each request."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append((self.command, self.path, body, self.headers.get("Authorization")))
        status, answer = self.server.routes.get((self.command, self.path), (404, {"detail": "no route"}))
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeAirflow)
    httpd.routes, httpd.requests = {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _api(server: ThreadingHTTPServer) -> AirflowApi:
    return AirflowApi(f"http://127.0.0.1:{server.server_address[1]}/")


def test_trigger_sends_a_null_logical_date_and_the_conf(server: ThreadingHTTPServer) -> None:
    server.routes[("POST", "/api/v2/dags/my%20dag/dagRuns")] = (200, {"dag_run_id": "r1", "state": "queued"})
    assert _api(server).trigger_run("my dag", conf={"x": 1}, run_id="r1")["state"] == "queued"
    assert server.requests == [
        ("POST", "/api/v2/dags/my%20dag/dagRuns", {"logical_date": None, "conf": {"x": 1}, "dag_run_id": "r1"}, None)
    ]


def test_http_errors_carry_status_and_detail(server: ThreadingHTTPServer) -> None:
    server.routes[("POST", "/api/v2/dags/d/dagRuns")] = (400, {"detail": "Invalid input for param batch_size"})
    with pytest.raises(AirflowApiError, match="HTTP 400: Invalid input for param batch_size") as refused:
        _api(server).trigger_run("d", conf={"batch_size": "many"})
    assert refused.value.status == 400


def test_login_token_goes_on_later_requests(server: ThreadingHTTPServer) -> None:
    server.routes[("POST", "/auth/token")] = (201, {"access_token": "tok"})
    server.routes[("GET", "/api/v2/monitor/health")] = (200, {"scheduler": {"status": "healthy"}})
    api = _api(server)
    api.login("admin", "secret")
    api.health()
    assert server.requests[0][2] == {"username": "admin", "password": "secret"}
    assert server.requests[1][3] == "Bearer tok"


def test_waiting_returns_a_finished_run(server: ThreadingHTTPServer) -> None:
    server.routes[("GET", "/api/v2/dags/d/dagRuns/r")] = (200, {"state": "failed"})
    assert _api(server).wait_for_run("d", "r", timeout=5)["state"] == "failed"


def test_waiting_is_bounded_and_names_the_stuck_tasks(server: ThreadingHTTPServer) -> None:
    server.routes[("GET", "/api/v2/dags/d/dagRuns/r")] = (200, {"state": "running"})
    server.routes[("GET", "/api/v2/dags/d/dagRuns/r/taskInstances?limit=1000")] = (
        200,
        {"task_instances": [{"task_id": "gpu_step", "state": "scheduled"}]},
    )
    with pytest.raises(TimeoutError, match="still 'running'.*'gpu_step': 'scheduled'"):
        _api(server).wait_for_run("d", "r", timeout=0.3, poll_interval=0.1)


def test_stack_rejects_bad_arguments_before_starting(tmp_path: Path) -> None:
    with pytest.raises(DevStackError, match="DAGs folder .*missing.* does not exist"):
        AirflowDevStack(tmp_path / "home", tmp_path / "missing")
    with pytest.raises(ValueError, match="gpus must be an integer >= 0"):
        AirflowDevStack(tmp_path / "home", tmp_path, gpus=-1)


def test_stack_environment_is_isolated_with_gpu_stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.setenv("DISTISTAGE_GPUS", "")
    stack = AirflowDevStack(tmp_path / "home", tmp_path, gpus=2, api_port=18080)
    assert stack.env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert stack.env["AIRFLOW_HOME"] == str((tmp_path / "home").resolve())
    assert stack.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert stack.env["DISTISTAGE_GPUS"] == "0,1"
