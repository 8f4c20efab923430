"""A small client for Airflow's REST API v2: trigger runs with conf, wait for them, read task instances."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

FINISHED_RUN_STATES = frozenset({"success", "failed"})
REQUEST_TIMEOUT_S = 30.0
DATABASE_BUSY_ATTEMPTS = 5
DATABASE_BUSY_PAUSE_S = 2.0


class AirflowApiError(RuntimeError):
    """The API answered with an HTTP error; ``status`` and ``detail`` say what it refused."""

    def __init__(self, method: str, path: str, status: int, detail: Any) -> None:
        super().__init__(f"{method} {path} -> HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class AirflowApi:
    """Calls ``<base_url>/api/v2/...`` with an optional bearer token; every call is bounded in time."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Sends ``body`` as JSON and returns the decoded answer; HTTP errors raise :class:`AirflowApiError`.

        An answer of HTTP 500 "Database error" (SQLite locked by the scheduler; the API rolled the
        transaction back, so nothing was done) is tried again a few times before it raises.
        """
        for attempt in range(DATABASE_BUSY_ATTEMPTS):
            try:
                return self._request_once(method, path, body)
            except AirflowApiError as error:
                database_busy = error.status == 500 and "Database error" in str(error.detail)
                if not database_busy or attempt == DATABASE_BUSY_ATTEMPTS - 1:
                    raise
                time.sleep(DATABASE_BUSY_PAUSE_S)
        raise AssertionError("unreachable")

    def _request_once(self, method: str, path: str, body: Any) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raw = error.read().decode(errors="replace")
            try:
                detail = json.loads(raw).get("detail", raw)
            except (ValueError, AttributeError):
                detail = raw
            raise AirflowApiError(method, path, error.code, detail) from None
        return json.loads(payload) if payload else None

    def login(self, username: str, password: str) -> None:
        """Gets a token from the simple auth manager for ``username`` and uses it from now on."""
        answer = self.request("POST", "/auth/token", {"username": username, "password": password})
        self.token = answer["access_token"]

    def health(self) -> dict[str, Any]:
        """``/api/v2/monitor/health``: metadatabase, scheduler, ... each with a ``status``."""
        return self.request("GET", "/api/v2/monitor/health")

    def trigger_run(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> dict[str, Any]:
        """Starts a manual run (no logical date) with ``conf``; returns the run as the API describes it."""
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id is not None:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/api/v2/dags/{_quote(dag_id)}/dagRuns", body)

    def get_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The run's current description (``state``, ``start_date``, ``end_date``, ``conf``, ...)."""
        return self.request("GET", f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float, poll_interval: float = 1.0) -> dict[str, Any]:
        """Polls until the run succeeds or fails; raises ``TimeoutError`` listing task states after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(dag_id, run_id)
            if run["state"] in FINISHED_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                states = {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}
                raise TimeoutError(
                    f"Run {run_id!r} of DAG {dag_id!r} is still {run['state']!r} after {timeout:.0f} s;"
                    f" task states: {states}"
                )
            time.sleep(poll_interval)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (mapped ones once per map index), with states and times."""
        answer = self.request("GET", f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances?limit=1000")
        return answer["task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1) -> str:
        """One task try's log as text: each line's event, and the type and message of any exception."""
        path = (
            f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances/{_quote(task_id)}"
            f"/logs/{try_number}?map_index={map_index}&full_content=true"
        )
        lines = []
        for item in self.request("GET", path).get("content", []):
            if not isinstance(item, dict):
                lines.append(str(item))
                continue
            lines.append(str(item.get("event", "")))
            lines.extend(f"{e.get('exc_type')}: {e.get('exc_value')}" for e in item.get("error_detail") or [])
        return "\n".join(lines)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """The value a task pushed under ``key`` (its return value by default)."""
        path = (
            f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances/{_quote(task_id)}"
            f"/xcomEntries/{_quote(key)}?map_index={map_index}&deserialize=true&stringify=false"
        )
        return self.request("GET", path)["value"]


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")
