"""What a compiled DAG needs besides the pipeline: where data goes, which pool gates GPUs, how tasks wait.

Defaults come from the ``[dististage]`` section of the Airflow configuration (``store``, ``output``,
``gpu_pool``; see :mod:`airflow_dististage.provider.config`), read when a pipeline is compiled,
never when the package is imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_GPU_POOL = "dististage_gpu"
DEFAULT_STEP_RETRIES = 2
_DAG_ID_PATTERN = re.compile(r"^[\w.-]{1,250}$")


class CompileError(ValueError):
    """A compile option cannot produce a DAG that runs; the message names the option or step at fault."""


@dataclass(frozen=True)
class CompileOptions:
    """Validated compile options (see :func:`~airflow_dististage.compiler.compile_pipeline`).

    Attributes:
        dag_id: the DAG's id.
        store: fsspec URL or folder of the batch store (each run under ``<store>/<pipeline>/<run_id>``).
        output: fsspec URL or folder where each run saves its Distiset (``<output>/<dag_id>/<run_id>``).
        gpu_pool: Airflow pool that gates steps declaring ``resources.gpus``.
        gpu_pool_slots: the pool's size if known at compile time; steps needing more are rejected.
        queue: Celery queue for GPU steps (None: the executor's default queue).
        kubernetes_gpu: attach a pod override requesting ``nvidia.com/gpu`` to GPU steps.
        reschedule_seconds: how long a step whose predecessors have not started waits before retrying.
        start_timeout_seconds: how long a step may wait for its predecessors to start before it fails.
        step_retries: retries of a failed step task, ``reschedule_seconds`` apart. A retry resumes
            after the last committed batch, or returns at once if the step had finished (Airflow
            may fail a task that just came back from a reschedule while it runs).
    """

    dag_id: str
    store: str
    output: str
    gpu_pool: str = DEFAULT_GPU_POOL
    gpu_pool_slots: int | None = None
    queue: str | None = None
    kubernetes_gpu: bool = False
    reschedule_seconds: float = 5.0
    start_timeout_seconds: float = 6 * 3600.0
    step_retries: int = DEFAULT_STEP_RETRIES

    def __post_init__(self) -> None:
        if not isinstance(self.dag_id, str) or not _DAG_ID_PATTERN.match(self.dag_id):
            raise CompileError(
                f"Invalid dag_id {self.dag_id!r}: use 1 to 250 letters, digits, '_', '-' or '.'."
            )
        for name in ("store", "output", "gpu_pool"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise CompileError(f"Compile option {name}= must be a non-empty string, got {value!r}.")
        if self.gpu_pool_slots is not None and (
            not isinstance(self.gpu_pool_slots, int) or self.gpu_pool_slots < 0
        ):
            raise CompileError(f"gpu_pool_slots must be None or an integer >= 0, got {self.gpu_pool_slots!r}.")
        if self.queue is not None and (not isinstance(self.queue, str) or not self.queue):
            raise CompileError(f"queue must be None or a non-empty string, got {self.queue!r}.")
        if not isinstance(self.step_retries, int) or self.step_retries < 0:
            raise CompileError(f"step_retries must be an integer >= 0, got {self.step_retries!r}.")
        for name in ("reschedule_seconds", "start_timeout_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise CompileError(f"{name} must be a positive number of seconds, got {value!r}.")


def resolve_options(
    dag_id: str,
    *,
    store: str | None,
    output: str | None,
    gpu_pool: str | None,
    **rest: object,
) -> CompileOptions:
    """Fills ``store``, ``output`` and ``gpu_pool`` from ``[dististage]`` when not given, then validates."""
    from airflow_dististage.provider.config import get_setting

    return CompileOptions(
        dag_id=dag_id,
        store=store or get_setting("store"),
        output=output or get_setting("output"),
        gpu_pool=gpu_pool or get_setting("gpu_pool"),
        **rest,  # type: ignore[arg-type]
    )
