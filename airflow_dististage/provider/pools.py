"""The GPU pool: how many GPUs this host has, and creating or reading the pool in Airflow's database.

Only CLI commands call these (Airflow blocks database access in DAG files and tasks).
"""

from __future__ import annotations

from dataclasses import dataclass


class NoGpusFoundError(RuntimeError):
    """The host offers no GPU to steps, and no count was given."""


@dataclass(frozen=True)
class PoolSize:
    """A pool's name and slots; ``slots`` is None when the pool does not exist."""

    name: str
    slots: int | None

    def can_hold(self, gpus: int) -> bool:
        """Whether ``gpus`` slots can be taken from this pool at once."""
        return gpus == 0 or (self.slots is not None and gpus <= self.slots)


def resolve_gpu_count(requested: int | None) -> int:
    """``requested`` when given (must be >= 1), else the GPUs this host offers to steps.

    The host's GPUs are ``DISTISTAGE_GPUS``, ``CUDA_VISIBLE_DEVICES`` or what ``nvidia-smi -L``
    lists (see :func:`airflow_dististage.runtime.gpus.host_gpus`). None raises, naming ``--gpus``.
    """
    if requested is not None:
        if requested < 1:
            raise ValueError(
                f"--gpus must be at least 1, got {requested}: a pool with no slot would leave every GPU"
                " step waiting forever."
            )
        return requested
    from airflow_dististage.runtime.gpus import host_gpus

    found = len(host_gpus())
    if found == 0:
        raise NoGpusFoundError(
            "No GPU found on this host (DISTISTAGE_GPUS and CUDA_VISIBLE_DEVICES are unset and"
            " nvidia-smi lists none or is not installed), so the GPU pool was not created. If GPU"
            " tasks run on other workers, or to run GPU steps on CPU for a try-out, give the count:"
            " `airflow dististage pools sync --gpus N`."
        )
    return found


def sync_pool(name: str, slots: int) -> PoolSize:
    """Creates pool ``name`` with ``slots`` slots, or resizes it (an upsert, as ``airflow pools set``)."""
    from airflow.models.pool import Pool

    pool = Pool.create_or_update_pool(
        name=name,
        slots=slots,
        description=f"GPUs for airflow-dististage steps ({slots}); set by `airflow dististage pools sync`.",
        include_deferred=False,
    )
    return PoolSize(name=pool.pool, slots=pool.slots)


def read_pool(name: str) -> PoolSize:
    """The pool's current size from Airflow's database (``slots`` None when it does not exist)."""
    from airflow.models.pool import Pool

    pool = Pool.get_pool(name)
    return PoolSize(name=name, slots=None if pool is None else pool.slots)
