"""A real Airflow 3 on loopback: SQLite, LocalExecutor, api-server and scheduler in a temp AIRFLOW_HOME.

Used by the end-to-end tests, ``make demo`` and ``make ui``. Every wait is bounded; when Airflow does
not come up, the error carries the tail of its logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from airflow_dististage.devstack.api import AirflowApi, AirflowApiError

LOOPBACK = "127.0.0.1"
CLI_TIMEOUT_S = 300.0
STOP_GRACE_S = 15.0
LOG_TAIL_LINES = 40
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
UI_USER = "admin"


class DevStackError(RuntimeError):
    """Airflow did not start, or a CLI step failed; the message ends with the relevant log tails."""


def free_port(preferred: int = 0) -> int:
    """``preferred`` if nothing listens on it on loopback, else any free TCP port there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, preferred))
        except OSError:
            probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


class AirflowDevStack:
    """Starts and stops a throw-away Airflow in ``home`` serving the DAG files of ``dags_folder``.

    Args:
        home: AIRFLOW_HOME (created if missing); database, logs and the stack's own logs live there.
        dags_folder: the DAG files to serve.
        gpus: slots of the GPU pool (``airflow dististage pools sync --gpus``); 0 creates no pool.
            When the host has fewer GPUs, tasks get CPU stand-ins (``DISTISTAGE_GPUS``).
        all_admins: every request is an admin without login (tests); False uses the simple auth
            manager's generated password for user ``admin`` (``make ui``).
        dag_processor: also run a dag-processor, so DAG file edits show up while the stack runs.
        unpaused_dags: the DAGs that may run (the others stay paused, so that e.g. a nightly example
            does not start a run by itself); None unpauses every DAG.
        api_port: the api-server's port (None: a free one).
        start_timeout: seconds allowed for the api-server and scheduler to report healthy.
        extra_env: more environment for every Airflow process (e.g. ``AIRFLOW__DISTISTAGE__STORE``).
    """

    def __init__(
        self,
        home: str | os.PathLike[str],
        dags_folder: str | os.PathLike[str],
        *,
        gpus: int = 1,
        all_admins: bool = True,
        dag_processor: bool = False,
        unpaused_dags: Sequence[str] | None = None,
        api_port: int | None = None,
        start_timeout: float = 180.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.home = Path(home).resolve()
        self.dags_folder = Path(dags_folder).resolve()
        if not self.dags_folder.is_dir():
            raise DevStackError(f"DAGs folder {str(self.dags_folder)!r} does not exist.")
        if not isinstance(gpus, int) or gpus < 0:
            raise ValueError(f"gpus must be an integer >= 0 (slots of the GPU pool), got {gpus!r}.")
        self.gpus = gpus
        self.all_admins = all_admins
        self.dag_processor = dag_processor
        self.unpaused_dags = None if unpaused_dags is None else tuple(unpaused_dags)
        self.api_port = api_port or free_port()
        self.start_timeout = start_timeout
        self.env = self._environment(extra_env or {})
        self.log_dir = self.home / "devstack-logs"
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._log_files: list[IO[bytes]] = []

    # -- addresses and environment -------------------------------------------------------
    @property
    def url(self) -> str:
        """The UI and REST API root, e.g. ``http://127.0.0.1:8080``."""
        return f"http://{LOOPBACK}:{self.api_port}"

    def _environment(self, extra_env: Mapping[str, str]) -> dict[str, str]:
        """Environment of every Airflow process: this stack's settings over the caller's non-Airflow ones."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        settings = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(self.unpaused_dags is not None),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(self.all_admins),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{UI_USER}:admin",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__HOST": LOOPBACK,
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        }
        from airflow_dististage.runtime.gpus import host_gpus

        if self.gpus > len(host_gpus()):
            # CPU stand-ins, so that steps declaring GPUs can claim a device on a machine without one.
            settings["DISTISTAGE_GPUS"] = ",".join(str(index) for index in range(self.gpus))
        return {**inherited, **settings, **extra_env}

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> AirflowDevStack:
        """Migrates the database, serializes the DAGs, syncs the GPU pool, starts the servers, waits for health."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.run_cli("db", "migrate")
            self.run_cli("dags", "reserialize")
            if self.gpus:
                self.run_cli("dististage", "pools", "sync", "--gpus", str(self.gpus))
            self._spawn("api-server")
            self._spawn("scheduler")
            if self.dag_processor:
                self._spawn("dag-processor")
            self._wait_until_healthy()
            api = self.api()
            for dag_id in self.unpaused_dags or ():
                api.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminates every process group this stack started (SIGKILL after a grace period); idempotent."""
        for process in self._processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in self._processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_GRACE_S)
        self._processes.clear()
        for log_file in self._log_files:
            log_file.close()
        self._log_files.clear()

    def running(self) -> bool:
        """Whether every process this stack started is still alive."""
        return bool(self._processes) and all(p.poll() is None for p in self._processes.values())

    def __enter__(self) -> AirflowDevStack:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- helpers -------------------------------------------------------------------------
    def run_cli(
        self, *args: str, check: bool = True, env: Mapping[str, str] | None = None, timeout: float = CLI_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        """Runs ``airflow <args>`` against this stack (``env`` overrides its environment).

        Raises:
            DevStackError: the command ran past ``timeout``, or failed while ``check`` is set.
        """
        command = [sys.executable, "-m", "airflow", *args]
        try:
            done = subprocess.run(
                command, env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise DevStackError(f"`airflow {' '.join(args)}` did not finish within {timeout:.0f} s.") from None
        if check and done.returncode != 0:
            raise DevStackError(
                f"`airflow {' '.join(args)}` failed (exit {done.returncode}):\n{_tail(done.stdout + done.stderr)}"
            )
        return done

    def api(self) -> AirflowApi:
        """A REST client for this stack, logged in as ``admin`` when the stack requires a login."""
        client = AirflowApi(self.url)
        if not self.all_admins:
            client.login(*self.login())
        return client

    def login(self) -> tuple[str, str]:
        """``(user, password)`` for the UI: the simple auth manager's generated admin password."""
        if self.all_admins:
            return UI_USER, "(none: every visitor is an admin)"
        passwords = json.loads((self.home / PASSWORDS_FILE).read_text())
        return UI_USER, passwords[UI_USER]

    def log_tails(self) -> str:
        """The last lines of each server's log, for error messages."""
        parts = []
        for log in sorted(self.log_dir.glob("*.log")):
            parts.append(f"--- {log.name} (last {LOG_TAIL_LINES} lines) ---\n{_tail(log.read_text(errors='replace'))}")
        return "\n".join(parts)

    def _spawn(self, component: str, *args: str, name: str | None = None, env: Mapping[str, str] | None = None) -> None:
        """Starts ``airflow <component> <args>`` in its own process group, logging to ``<name>.log``."""
        name = name or component
        log_file = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._log_files.append(log_file)
        self._processes[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", component, *args],
            env={**self.env, **(env or {})},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _wait_until_healthy(self) -> None:
        client = AirflowApi(self.url)
        deadline = time.monotonic() + self.start_timeout
        last_problem = "no answer yet"
        while time.monotonic() < deadline:
            for component, process in self._processes.items():
                if process.poll() is not None:
                    raise DevStackError(
                        f"airflow {component} exited with code {process.returncode} while starting.\n{self.log_tails()}"
                    )
            try:
                health = client.health()
            except (OSError, ValueError, AirflowApiError) as error:
                last_problem = str(error)
            else:
                statuses = {name: health.get(name, {}).get("status") for name in ("metadatabase", "scheduler")}
                login_ready = self.all_admins or (self.home / PASSWORDS_FILE).exists()
                if login_ready and all(status == "healthy" for status in statuses.values()):
                    return
                last_problem = f"health: {statuses}, login ready: {login_ready}"
            time.sleep(0.5)
        raise DevStackError(
            f"Airflow at {self.url} was not healthy after {self.start_timeout:.0f} s ({last_problem}).\n"
            f"{self.log_tails()}"
        )


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-LOG_TAIL_LINES:])
