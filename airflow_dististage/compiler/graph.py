"""The DAG as plain data: which tasks exist, in which TaskGroup, with which pool, queue and edges.

Nothing here touches Airflow, so the shape is testable on its own and the last step
(:mod:`airflow_dististage.compiler.dag`) only turns specs into tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_dististage.compiler.options import CompileError, CompileOptions
from airflow_dististage.planning import ExecutionPlan, StagePlan, StepPlan

CHECK_POOL_TASK_ID = "check_gpu_pool"
PUBLISH_TASK_ID = "publish_distiset"
KUBERNETES_GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class TaskSpec:
    """One step's task: id (the step name), pool, slots per replica, queue, executor config, replicas."""

    step_name: str
    pool: str | None
    pool_slots: int
    queue: str | None
    gpus_per_replica: int
    replicas: int
    kubernetes_gpus: int

    @property
    def task_id(self) -> str:
        return self.step_name

    @property
    def is_mapped(self) -> bool:
        """Several replicas run as one mapped task, one map index per replica."""
        return self.replicas > 1


@dataclass(frozen=True)
class StageSpec:
    """One load stage: a TaskGroup ``stage_<i>``, or a lone barrier task for a global step."""

    index: int
    tasks: tuple[TaskSpec, ...]
    is_barrier: bool

    @property
    def group_id(self) -> str | None:
        return None if self.is_barrier else f"stage_{self.index}"


@dataclass(frozen=True)
class DagSpec:
    """Stages in order (each depends on the one before), the GPU-pool check and the publish task.

    ``planned_gpus``: the GPUs one stage may use when the stages were planned with
    ``load_groups="auto"`` (the pool must have as many), else None.
    """

    stages: tuple[StageSpec, ...]
    gpu_pool: str
    max_gpus_per_task: int
    check_gpu_pool: str
    planned_gpus: int | None = None

    @property
    def needs_gpu_pool(self) -> bool:
        return self.max_gpus_per_task > 0

    @property
    def gpu_tasks(self) -> tuple[TaskSpec, ...]:
        return tuple(task for stage in self.stages for task in stage.tasks if task.gpus_per_replica)


def _task_spec(step: StepPlan, options: CompileOptions) -> TaskSpec:
    gpus = step.gpus_per_replica
    if gpus and options.gpu_pool_slots is not None and gpus > options.gpu_pool_slots:
        raise CompileError(
            f"Step {step.name!r} needs {gpus} GPU(s) per replica, but gpu_pool_slots={options.gpu_pool_slots}"
            f" for pool {options.gpu_pool!r}: it could never run. Lower the step's resources.gpus or"
            " grow the pool (airflow dististage pools sync --gpus N)."
        )
    return TaskSpec(
        step_name=step.name,
        pool=options.gpu_pool if gpus else None,
        pool_slots=gpus or 1,
        queue=options.queue if gpus else None,
        gpus_per_replica=gpus,
        replicas=step.replicas,
        kubernetes_gpus=gpus if options.kubernetes_gpu else 0,
    )


def _stage_spec(stage: StagePlan, plan: ExecutionPlan, options: CompileOptions) -> StageSpec:
    return StageSpec(
        index=stage.index,
        tasks=tuple(_task_spec(plan.steps[name], options) for name in stage.steps),
        is_barrier=stage.is_global,
    )


def build_dag_spec(plan: ExecutionPlan, options: CompileOptions) -> DagSpec:
    """The DAG's shape for ``plan`` under ``options``; rejects what can never run."""
    if options.kubernetes_gpu:
        require_kubernetes()
    _check_task_state_keys(plan)
    stages = tuple(_stage_spec(stage, plan, options) for stage in plan.stages)
    return DagSpec(
        stages=stages,
        gpu_pool=options.gpu_pool,
        check_gpu_pool=options.check_gpu_pool,
        max_gpus_per_task=max((t.gpus_per_replica for s in stages for t in s.tasks), default=0),
        planned_gpus=plan.gpus,
    )


def _check_task_state_keys(plan: ExecutionPlan) -> None:
    """Airflow reports replica ``i`` of a mapped step ``s`` as ``s_i``; no other step may be named so."""
    for step in plan.steps.values():
        for replica in range(step.replicas if step.replicas > 1 else 0):
            clash = f"{step.name}_{replica}"
            if clash in plan.steps:
                raise CompileError(
                    f"Step {clash!r} has the name Airflow gives replica {replica} of step {step.name!r}"
                    f" (resources.replicas={step.replicas}): rename one of them."
                )


def require_kubernetes() -> None:
    """Raises :class:`CompileError` unless the cncf-kubernetes provider and its client are installed."""
    try:
        import airflow.providers.cncf.kubernetes  # noqa: F401 - serialises pod overrides
        import kubernetes.client  # noqa: F401
    except ImportError:
        raise CompileError(
            "kubernetes_gpu=True needs the KubernetesExecutor's provider: pip install"
            " apache-airflow-providers-cncf-kubernetes (or compile without kubernetes_gpu)."
        ) from None


def kubernetes_executor_config(gpus: int) -> dict[str, Any]:
    """``executor_config`` with a pod override that requests ``gpus`` NVIDIA GPUs."""
    from kubernetes.client import models as k8s

    require_kubernetes()
    limits = {KUBERNETES_GPU_RESOURCE: str(gpus)}
    container = k8s.V1Container(name="base", resources=k8s.V1ResourceRequirements(limits=limits, requests=limits))
    return {"pod_override": k8s.V1Pod(spec=k8s.V1PodSpec(containers=[container]))}
