"""A throw-away Celery cluster on one machine: the dev stack on PostgreSQL and Redis, with Celery workers.

:class:`AirflowCluster` is :class:`~airflow_dististage.devstack.stack.AirflowDevStack` with
PostgreSQL as the metadata database and Celery result backend, Redis as the broker, an S3-compatible
server for stores and outputs, a dag-processor, and :class:`CeleryWorker` processes, each with the
environment of the "host" it stands for: what Airflow records as the task's hostname, the GPUs
(``DISTISTAGE_GPUS``) and the GPU lock folder the host's workers share.

Airflow's task processes start sessions of their own, so killing a worker's process group does not
reach them. Every Airflow process the cluster starts carries a marker in its environment; stopping
the cluster kills whatever still carries it, by PID.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from airflow_dististage.devstack.services import Postgres, Redis, S3Server, Service, ServiceError
from airflow_dististage.devstack.stack import AirflowDevStack, DevStackError, free_port

MARK_VARIABLE = "DISTISTAGE_DEVSTACK_MARK"
HOST_VARIABLE = "DISTISTAGE_DEVSTACK_HOST"
WORKER_VARIABLE = "DISTISTAGE_DEVSTACK_WORKER"
WORKER_READY_TIMEOUT_S = 120.0
KILL_WAIT_S = 10.0


def worker_host() -> str:
    """``[core] hostname_callable`` of the cluster's workers: the host name the worker stands for."""
    return os.environ.get(HOST_VARIABLE) or socket.getfqdn()


@dataclass(frozen=True)
class CeleryWorker:
    """One ``airflow celery worker``.

    Args:
        name: the Celery node name (``<name>@<machine>``) and the log file's name.
        queues: the Celery queues it serves.
        host: the host it stands for; Airflow records it as the hostname of the tasks it runs.
            Workers of one host share its GPU lock folder.
        gpus: the host's GPUs (``DISTISTAGE_GPUS``, e.g. ``"0,1"``); empty: none.
        concurrency: task processes it runs at once.
        env: more environment for this worker and its tasks.
    """

    name: str
    queues: Sequence[str] = ("default",)
    host: str = "cpu-host"
    gpus: str = ""
    concurrency: int = 4
    env: Mapping[str, str] = field(default_factory=dict)


class AirflowCluster(AirflowDevStack):
    """Starts and stops the servers, Airflow's api-server, scheduler and dag-processor, and ``workers``.

    Args:
        home, dags_folder, unpaused_dags, start_timeout: as for ``AirflowDevStack``.
        workers: the Celery workers to start with the cluster (more with :meth:`start_worker`).
        gpus: slots of the GPU pool (the cluster's GPUs, all hosts together).
        extra_env: more environment for every Airflow process.
        heartbeat_timeout: seconds without a task heartbeat after which the scheduler fails the
            task (a killed worker's tasks are retried that much later).
    """

    def __init__(
        self,
        home: str | os.PathLike[str],
        dags_folder: str | os.PathLike[str],
        *,
        workers: Sequence[CeleryWorker] = (CeleryWorker("default"),),
        gpus: int = 0,
        unpaused_dags: Sequence[str] | None = None,
        start_timeout: float = 180.0,
        extra_env: Mapping[str, str] | None = None,
        heartbeat_timeout: float = 20.0,
    ) -> None:
        super().__init__(
            home, dags_folder, gpus=gpus, dag_processor=True, unpaused_dags=unpaused_dags,
            start_timeout=start_timeout, extra_env=extra_env,
        )
        self.env.pop("DISTISTAGE_GPUS", None)  # a host's GPUs are its workers' business
        self.workers = {worker.name: worker for worker in workers}
        self.heartbeat_timeout = heartbeat_timeout
        self.mark = uuid.uuid4().hex
        services_folder = self.home / "services"
        self.postgres = Postgres(services_folder)
        self.redis = Redis(services_folder)
        self.s3 = S3Server(services_folder)
        self._services: list[Service] = [self.postgres, self.redis, self.s3]

    # -- life cycle ----------------------------------------------------------------------
    def start(self) -> AirflowCluster:
        """Starts the servers, then Airflow (migrate, reserialize, pools, components), then the workers."""
        (self.home / "services").mkdir(parents=True, exist_ok=True)
        try:
            for service in self._services:
                service.start()
        except BaseException:
            self._stop_services()
            raise
        self.env.update(self._cluster_settings())
        super().start()
        try:
            for worker in self.workers.values():
                self.start_worker(worker, wait=False)
            for worker in self.workers.values():
                self.wait_for_worker(worker.name)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stops the Airflow processes, kills any task process they left, then stops the servers."""
        super().stop()
        _kill_pids(self.marked_pids())
        self._stop_services()

    def _stop_services(self) -> None:
        for service in reversed(self._services):
            service.stop()

    def _cluster_settings(self) -> dict[str, str]:
        return {
            MARK_VARIABLE: self.mark,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url,
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.postgres.url.replace("+psycopg2", ""),
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__CORE__PARALLELISM": "64",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(int(self.heartbeat_timeout)),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "15",
        }

    # -- workers -------------------------------------------------------------------------
    def host_lock_dir(self, host: str) -> Path:
        """The GPU lock folder every worker of ``host`` shares (``DISTISTAGE_GPU_LOCK_DIR``)."""
        folder = self.home / "hosts" / host / "gpu-locks"
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder.parent, 0o700)
        os.chmod(folder, 0o700)
        return folder

    def start_worker(self, worker: CeleryWorker, *, wait: bool = True) -> None:
        """Starts ``worker`` (replacing a stopped one of that name); waits until Celery reports it ready."""
        self.workers[worker.name] = worker
        env = {
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_host",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            HOST_VARIABLE: worker.host,
            WORKER_VARIABLE: worker.name,
            "DISTISTAGE_GPUS": worker.gpus,
            "DISTISTAGE_GPU_LOCK_DIR": str(self.host_lock_dir(worker.host)),
            **worker.env,
        }
        log = self.log_dir / f"worker-{worker.name}.log"
        log.unlink(missing_ok=True)
        self._spawn(
            "celery", "worker", "--queues", ",".join(worker.queues), "--concurrency", str(worker.concurrency),
            "--celery-hostname", f"{worker.name}@%h", "--without-mingle", "--without-gossip",
            name=f"worker-{worker.name}", env=env,
        )
        if wait:
            self.wait_for_worker(worker.name)

    def wait_for_worker(self, name: str, timeout: float = WORKER_READY_TIMEOUT_S) -> None:
        """Waits until worker ``name`` logs that it is ready; raises :class:`DevStackError` with its log."""
        process = self._processes[f"worker-{name}"]
        log = self.log_dir / f"worker-{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DevStackError(f"worker {name} exited with code {process.returncode}.\n{self.log_tails()}")
            if log.exists() and " ready." in log.read_text(errors="replace"):
                return
            time.sleep(0.5)
        raise DevStackError(f"worker {name} was not ready after {timeout:.0f} s.\n{self.log_tails()}")

    def kill_component(self, name: str) -> list[int]:
        """SIGKILLs component ``name`` (``scheduler``, ``worker-<name>``, ...) and every process below it,
        task processes in their own sessions included; returns the PIDs killed."""
        process = self._processes.pop(name)
        pids = [process.pid, *descendants(process.pid)]
        _kill_pids(pids)
        with contextlib.suppress(Exception):
            process.wait(timeout=KILL_WAIT_S)
        return pids

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILLs worker ``name`` with its task processes, as if its host died."""
        return self.kill_component(f"worker-{name}")

    def restart_scheduler(self) -> None:
        """Starts a new scheduler (after :meth:`kill_component` ``("scheduler")``)."""
        self._spawn("scheduler")

    def marked_pids(self) -> list[int]:
        """Every live process carrying this cluster's environment marker."""
        needle = f"{MARK_VARIABLE}={self.mark}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
        return found

    def add_s3_connection(self, conn_id: str) -> None:
        """Creates Airflow connection ``conn_id`` (type ``aws``) to this cluster's S3 server in the metadata DB."""
        self.run_cli("connections", "add", conn_id, "--conn-json", self.s3.connection_json())


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def _kill_pids(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


__all__ = ["AirflowCluster", "CeleryWorker", "ServiceError", "descendants", "worker_host"]
