"""The execution plan: stages of steps with what each step and stage needs.

Both the local runner and the Airflow compiler consume this one value; neither recomputes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_dististage.planning.auto_stages import plan_auto_stages
from airflow_dististage.planning.load_stages import AUTO, LoadGroupsError, plan_load_stages
from airflow_dististage.planning.routing import routing_roles

if TYPE_CHECKING:
    from airflow_dististage.pipeline.base import Pipeline


@dataclass(frozen=True)
class StepPlan:
    """One step as the runtime sees it: kind, neighbours, replicas and GPUs per replica, and
    whether it is a branch of a routing step or joins the branches of one (see :mod:`.routing`)."""

    name: str
    kind: str
    stage: int
    predecessors: tuple[str, ...]
    successors: tuple[str, ...]
    replicas: int
    gpus_per_replica: int
    branch_of: str | None = None
    joins: str | None = None

    @property
    def gpus(self) -> int:
        """GPUs all replicas of the step hold at once."""
        return self.replicas * self.gpus_per_replica


@dataclass(frozen=True)
class StagePlan:
    """One load stage: its steps (in plan order) and the GPUs it holds when all run together."""

    index: int
    steps: tuple[str, ...]
    last_steps: tuple[str, ...]
    is_global: bool
    gpus: int


@dataclass(frozen=True)
class ExecutionPlan:
    """Stages in order and every step's plan, keyed by step name (creation order).

    ``gpus`` is the GPUs a stage may use when the stages were planned with ``load_groups="auto"``,
    else None.
    """

    pipeline_name: str
    stages: tuple[StagePlan, ...]
    steps: dict[str, StepPlan]
    gpus: int | None = None

    @property
    def leaf_steps(self) -> tuple[str, ...]:
        """Steps with no successor: the Distiset's members."""
        return tuple(name for name, plan in self.steps.items() if not plan.successors)

    @property
    def topological_order(self) -> tuple[str, ...]:
        """Every step after all its predecessors (ties in plan order)."""
        ordered: list[str] = []
        placed: set[str] = set()
        while len(ordered) < len(self.steps):
            for name, plan in self.steps.items():
                if name not in placed and all(predecessor in placed for predecessor in plan.predecessors):
                    ordered.append(name)
                    placed.add(name)
        return tuple(ordered)

    def describe(self) -> str:
        """``Stage i: [...]`` lines, as the seed example prints them."""
        return "\n".join(f"Stage {stage.index}: {list(stage.steps)}" for stage in self.stages)


def build_plan(pipeline: Pipeline, load_groups: Any = None, gpus: int | None = None) -> ExecutionPlan:
    """Plans ``pipeline`` under ``load_groups`` (lists of steps or step names, ``"sequential_step_execution"``,
    or ``"auto"`` with ``gpus``, the GPUs one stage may use); checks graph and groups only."""
    graph = pipeline.dag
    steps = pipeline.steps
    if load_groups == AUTO:
        if gpus is None:
            raise LoadGroupsError(f"load_groups={AUTO!r} needs gpus=N: the GPUs one load stage may use.")
        needs = {name: step.resources.replicas * step.resources.gpus_per_replica for name, step in steps.items()}
        load_stages = plan_auto_stages(graph, pipeline.global_step_names(), needs, gpus)
    elif gpus is not None:
        raise LoadGroupsError(f"gpus={gpus!r} is only used with load_groups={AUTO!r}, got load_groups={load_groups!r}.")
    else:
        load_stages = plan_load_stages(graph, pipeline.global_step_names(), load_groups)
    stage_of = load_stages.stage_of()
    roles = routing_roles(graph, pipeline.routing_batch_functions, pipeline.global_step_names())
    step_plans = {
        name: StepPlan(
            name=name,
            kind=step.kind,
            stage=stage_of[name],
            predecessors=tuple(graph.predecessors(name)),
            successors=tuple(graph.successors(name)),
            replicas=step.resources.replicas,
            gpus_per_replica=step.resources.gpus_per_replica,
            branch_of=roles[name].branch_of,
            joins=roles[name].joins,
        )
        for name, step in steps.items()
    }
    stages = tuple(
        StagePlan(
            index=index,
            steps=stage,
            last_steps=last,
            is_global=len(stage) == 1 and steps[stage[0]].is_global,
            gpus=sum(step_plans[name].gpus for name in stage),
        )
        for index, (stage, last) in enumerate(zip(load_stages.stages, load_stages.last_steps))
    )
    return ExecutionPlan(pipeline_name=pipeline.name, stages=stages, steps=step_plans, gpus=gpus)
