"""What one step needs from the machine that runs it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepResources:
    """Replicas and per-replica CPUs, GPUs and memory of a step (as in distilabel).

    ``gpus`` sizes the Airflow GPU pool slots a step's task takes, per replica.
    """

    replicas: int = 1
    cpus: int | None = None
    gpus: int | None = None
    memory: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.replicas, int) or self.replicas < 1:
            raise ValueError(f"StepResources.replicas must be an integer >= 1, got {self.replicas!r}.")
        for name in ("cpus", "gpus", "memory"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"StepResources.{name} must be None or an integer >= 0, got {value!r}.")

    @property
    def gpus_per_replica(self) -> int:
        """GPUs one replica needs (0 when none are declared)."""
        return self.gpus or 0
