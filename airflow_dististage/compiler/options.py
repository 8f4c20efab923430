"""What a compiled DAG needs besides the pipeline: where data goes, which pool gates GPUs, how tasks wait.

Defaults come from the ``[dististage]`` section of the Airflow configuration (``store``, ``output``,
``gpu_pool``, ``gpus``; see :mod:`airflow_dististage.provider.config`), read when a pipeline is
compiled, never when the package is imported.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from airflow_dististage.runtime.tokens import check_token_budget

DEFAULT_STEP_RETRIES = 2
GPU_POOL_CHECK_MODES = ("strict", "warn")
PROCESS_PRIVATE_PROTOCOLS = frozenset({"memory"})
"""fsspec filesystems whose files live in one process only."""


class CompileError(ValueError):
    """A compile option cannot produce a DAG that runs; the message names the option or step at fault."""


@dataclass(frozen=True)
class CompileOptions:
    """Validated compile options (see :func:`~airflow_dististage.compiler.compile_pipeline`).

    Attributes:
        dag_id: the DAG's id.
        store: fsspec URL or absolute folder of the batch store (each run under ``<store>/<dag_id>/<run_id>``).
        output: fsspec URL or absolute folder where each run saves its Distiset (``<output>/<dag_id>/<run_id>``).
            Relative folders are refused: each Airflow process would resolve them against its own cwd.
        gpu_pool: Airflow pool that gates steps declaring ``resources.gpus``.
        check_gpu_pool: what the run's first task does when it cannot read the pool's size from the
            provider plugin on the api-server (plugin not installed, API unreachable or refusing):
            ``"strict"`` fails the run saying why, ``"warn"`` logs a warning and lets the run go on
            (a missing pool then leaves GPU steps waiting in "scheduled"). A pool known to be
            missing or too small fails the run in both modes.
        gpu_pool_slots: the pool's size if known at compile time; steps needing more are rejected.
        queue: Celery queue for GPU steps (None: the executor's default queue).
        kubernetes_gpu: attach a pod override requesting ``nvidia.com/gpu`` to GPU steps.
        reschedule_seconds: how long a step whose predecessors have not started waits before retrying.
        start_timeout_seconds: how long a step may wait for its predecessors to start before it fails.
        step_retries: retries of a failed step task, ``reschedule_seconds`` apart. A retry resumes
            after the last committed batch, or returns at once if the step had finished (Airflow
            may fail a task that just came back from a reschedule while it runs).
        gpu_claim_timeout_seconds: how long a GPU step waits for free GPUs on its host.
        max_tokens_per_run: each run's token budget for its LLM steps together (input + output
            tokens), or None (see :mod:`~airflow_dististage.runtime.tokens`).
        store_conn_id: the Airflow connection whose credentials and endpoint the tasks (and the
            run view) use for ``store`` and ``output``, both object-storage URLs then; None: fsspec's
            own configuration (environment, instance credentials).
    """

    dag_id: str
    store: str
    output: str
    gpu_pool: str
    gpu_pool_slots: int | None = None
    queue: str | None = None
    kubernetes_gpu: bool = False
    reschedule_seconds: float = 5.0
    start_timeout_seconds: float = 6 * 3600.0
    step_retries: int = DEFAULT_STEP_RETRIES
    check_gpu_pool: str = "strict"
    gpu_claim_timeout_seconds: float = 600.0
    max_tokens_per_run: int | None = None
    store_conn_id: str | None = None

    def __post_init__(self) -> None:
        check_dag_id(self.dag_id)
        for name in ("store", "output", "gpu_pool"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise CompileError(f"Compile option {name}= must be a non-empty string, got {value!r}.")
        for name in ("store", "output"):
            value = getattr(self, name)
            if "://" not in value and not os.path.isabs(value):
                raise CompileError(
                    f"Compile option {name}={value!r} is a relative folder: the DAG file and each task"
                    f" resolve it against their own working directory. Give an absolute path or a URL."
                )
            protocols = {segment.split("://", 1)[0].lower() for segment in value.split("::") if "://" in segment}
            if protocols & PROCESS_PRIVATE_PROTOCOLS:
                raise CompileError(
                    f"Compile option {name}={value!r} is private to one process, and every Airflow task"
                    " runs in its own process: its steps could never see each other's batches. Use a"
                    " folder all workers share or an object-storage URL."
                )
        if self.store_conn_id is not None:
            check_store_connection(self.store_conn_id, {"store": self.store, "output": self.output})
        if self.gpu_pool_slots is not None and (
            not isinstance(self.gpu_pool_slots, int) or self.gpu_pool_slots < 0
        ):
            raise CompileError(f"gpu_pool_slots must be None or an integer >= 0, got {self.gpu_pool_slots!r}.")
        if self.queue is not None and (not isinstance(self.queue, str) or not self.queue):
            raise CompileError(f"queue must be None or a non-empty string, got {self.queue!r}.")
        check_retries(self.step_retries, "step_retries")
        if self.check_gpu_pool not in GPU_POOL_CHECK_MODES:
            raise CompileError(f"check_gpu_pool must be one of {GPU_POOL_CHECK_MODES}, got {self.check_gpu_pool!r}.")
        try:
            check_token_budget(self.max_tokens_per_run, "max_tokens_per_run")
        except ValueError as error:
            raise CompileError(str(error)) from None
        for name in ("reschedule_seconds", "start_timeout_seconds", "gpu_claim_timeout_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise CompileError(f"{name} must be a positive number of seconds, got {value!r}.")


def check_store_connection(conn_id: object, locations: dict[str, str]) -> None:
    """Raises :class:`CompileError` unless ``conn_id`` can serve every URL of ``locations``.

    A connection holds an object store's credentials: a local folder cannot use one, and a URL
    scheme without an Airflow filesystem (its provider not installed) would fail only in the tasks.
    """
    if not isinstance(conn_id, str) or not conn_id:
        raise CompileError(f"store_conn_id must be None or a non-empty string, got {conn_id!r}.")
    from airflow.sdk.io import has_fs

    for name, value in locations.items():
        scheme = value.split("://", 1)[0].lower() if "://" in value else None
        if scheme in (None, "file", "local"):
            raise CompileError(
                f"Compile option {name}={value!r} is a local folder, but store_conn_id={conn_id!r} names an"
                " object-storage connection: give s3://, gs://, abfs://... URLs, or no store_conn_id"
                " ([dististage] store_conn_id)."
            )
        if not has_fs(scheme):
            raise CompileError(
                f"Compile option {name}={value!r}: no installed Airflow provider serves {scheme}:// URLs"
                f" through a connection (store_conn_id={conn_id!r}); install it, e.g."
                " apache-airflow-providers-amazon[s3fs] for s3://, -google for gs://, -microsoft-azure for abfs://."
            )


def data_locations_doc(options: CompileOptions) -> str:
    """The publish task's ``doc_json``: where the DAG's runs keep their batches and Distisets, and the
    connection that opens them (its id only).

    Serialized with the DAG, so the api-server's run view finds a run's store
    (``<store>/<dag_id>/<run_id>/``) without importing the DAG file; see :func:`store_of_dag_doc`.
    """
    return json.dumps({"store": options.store, "output": options.output, "store_conn_id": options.store_conn_id})


def store_of_dag_doc(doc_json: str | None) -> str | None:
    """The store URL a :func:`data_locations_doc` names; None for any other document (or none)."""
    return _doc_string(doc_json, "store")


def store_conn_of_dag_doc(doc_json: str | None) -> str | None:
    """The store connection id a :func:`data_locations_doc` names; None when it names none."""
    return _doc_string(doc_json, "store_conn_id")


def _doc_string(doc_json: str | None, key: str) -> str | None:
    try:
        value = json.loads(doc_json or "").get(key)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def check_dag_id(dag_id: object) -> None:
    """Raises :class:`CompileError` naming ``dag_id`` unless Airflow accepts it.

    Airflow's own rule decides: letters of any script, digits, ``_``, ``-``, ``.``; at most 250.
    Its store and output folder is :func:`~airflow_dististage.runtime.folders.safe_folder_name`.
    """
    from airflow.sdk.definitions._internal.node import validate_key

    try:
        validate_key(dag_id)
    except (TypeError, ValueError) as error:
        raise CompileError(f"Invalid dag_id {dag_id!r}: {error}") from None


def check_retries(value: object, name: str) -> None:
    """Raises :class:`CompileError` naming ``name`` (where the value came from) unless ``value`` is an int >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CompileError(f"{name} must be an integer >= 0, got {value!r}.")


def auto_plan_gpus(gpus: int | None) -> int:
    """The GPUs one load stage may use under ``load_groups="auto"``: ``gpus``, else ``[dististage] gpus``.

    Raises:
        CompileError: neither is given, or the value is not an integer >= 0 (naming where it came from).
    """
    from airflow_dististage.provider.config import get_setting

    source = "gpus"
    if gpus is None:
        configured = get_setting("gpus")
        if configured is None or not str(configured).strip():
            raise CompileError(
                "load_groups='auto' needs the GPUs one load stage may use: pass gpus=N to compile_pipeline"
                " (--gpus N to `airflow dististage plan`), or set [dististage] gpus in airflow.cfg"
                " (AIRFLOW__DISTISTAGE__GPUS)."
            )
        source = "[dististage] gpus"
        try:
            gpus = int(configured)
        except ValueError:
            raise CompileError(f"[dististage] gpus must be an integer >= 0, got {configured!r}.") from None
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise CompileError(f"{source} must be an integer >= 0, got {gpus!r}.")
    return gpus


def resolve_options(
    dag_id: str,
    *,
    store: str | None,
    output: str | None,
    gpu_pool: str | None,
    store_conn_id: str | None = None,
    **rest: object,
) -> CompileOptions:
    """Fills ``store``, ``output``, ``gpu_pool`` and ``store_conn_id`` from ``[dististage]`` when not
    given, then validates."""
    from airflow_dististage.provider.config import get_setting

    return CompileOptions(
        dag_id=dag_id,
        store=store or get_setting("store"),
        output=output or get_setting("output"),
        gpu_pool=gpu_pool or get_setting("gpu_pool"),
        store_conn_id=store_conn_id or get_setting("store_conn_id") or None,
        **rest,  # type: ignore[arg-type]
    )
