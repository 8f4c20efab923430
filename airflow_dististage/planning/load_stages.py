"""Load stages: which steps are loaded (and run) together.

The plan follows distilabel 1.5.3's ``get_steps_load_stages`` for every valid input, and rejects
the load groups for which distilabel returns a plan that cannot run (it then deadlocks).

Rule: walk the steps in networkx topological order (node creation order, edge connection order).
A step that belongs to a load group (every global step is a group of its own) closes the stage
being built and emits its whole group as a stage; runs of ungrouped steps form the other stages.
``"sequential_step_execution"`` puts every step in a group of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

import networkx as nx

SEQUENTIAL = "sequential_step_execution"
AUTO = "auto"
"""Stages chosen by the planner for a number of GPUs (see :mod:`~airflow_dististage.planning.auto_stages`)."""
LoadGroups = Union[Sequence[Sequence[str]], Literal["sequential_step_execution"], None]


class LoadGroupsError(ValueError):
    """The load groups given for a pipeline cannot produce a plan that runs."""


@dataclass(frozen=True)
class LoadStages:
    """Stages in execution order and, for each, its steps with no successor inside the stage."""

    stages: tuple[tuple[str, ...], ...]
    last_steps: tuple[tuple[str, ...], ...]

    @classmethod
    def of(cls, graph: nx.DiGraph, stages: tuple[tuple[str, ...], ...]) -> LoadStages:
        """``stages`` of ``graph`` with each stage's last steps."""
        return cls(stages=tuple(stages), last_steps=tuple(_last_steps(graph, stage) for stage in stages))

    def stage_of(self) -> dict[str, int]:
        """Step name -> index of its stage."""
        return {name: index for index, stage in enumerate(self.stages) for name in stage}


def _validate_groups(graph: nx.DiGraph, groups: list[list[str]], global_steps: set[str]) -> None:
    seen: dict[str, int] = {}
    for index, group in enumerate(groups):
        if not group:
            raise LoadGroupsError(f"Load group {index} is empty: every group needs at least one step.")
        for name in group:
            if name not in graph:
                raise LoadGroupsError(
                    f"Load group {index} names step {name!r}, which is not in the pipeline."
                    f" Steps: {sorted(graph)}."
                )
            if name in seen:
                where = "twice in that group" if seen[name] == index else f"also in load group {seen[name]}"
                raise LoadGroupsError(
                    f"Step {name!r} is in load group {index} and {where}: a step belongs to one group."
                )
            seen[name] = index
        shared_globals = [name for name in group if name in global_steps]
        if shared_globals and len(group) > 1:
            raise LoadGroupsError(
                f"Global step {shared_globals[0]!r} shares load group {index} with"
                f" {[n for n in group if n != shared_globals[0]]}: a global step receives all rows at"
                " once, so it must be loaded in a stage of its own."
            )


def _check_dependencies(graph: nx.DiGraph, plan: LoadStages) -> None:
    stage_of = plan.stage_of()
    for source, target in graph.edges:
        if stage_of[target] < stage_of[source]:
            raise LoadGroupsError(
                f"These load groups would run step {target!r} (stage {stage_of[target]}) before its"
                f" predecessor {source!r} (stage {stage_of[source]}): edge {source} -> {target} goes"
                f" backwards. Put {target!r} in a group after {source!r}, or both in one group."
            )


def normalise_load_groups(load_groups: Any) -> LoadGroups:
    """Load groups with step objects replaced by their names; checks the shape."""
    if load_groups is None or load_groups == SEQUENTIAL:
        return load_groups
    if load_groups == AUTO:
        raise LoadGroupsError(
            f"load_groups={AUTO!r} needs the GPUs a stage may use: plan it with gpus=N"
            " (pipeline.get_load_stages(load_groups='auto', gpus=N), or plan_auto_stages)."
        )
    if isinstance(load_groups, str) or not isinstance(load_groups, Sequence):
        raise LoadGroupsError(
            f"load_groups must be a list of lists of steps, {SEQUENTIAL!r} or {AUTO!r}, got {load_groups!r}."
        )
    groups = []
    for index, group in enumerate(load_groups):
        if isinstance(group, str) or not isinstance(group, Sequence):
            raise LoadGroupsError(f"Load group {index} must be a list of steps or step names, got {group!r}.")
        groups.append([_step_name(index, member) for member in group])
    return groups


def _step_name(index: int, member: Any) -> str:
    name = member if isinstance(member, str) else getattr(member, "name", None)
    if not isinstance(name, str):
        raise LoadGroupsError(f"Load group {index} holds {member!r}, which is neither a step nor a step name.")
    return name


def _last_steps(graph: nx.DiGraph, stage: tuple[str, ...]) -> tuple[str, ...]:
    members = set(stage)
    return tuple(sorted(n for n in stage if not any(s in members for s in graph.successors(n))))


def plan_load_stages(
    graph: nx.DiGraph,
    global_steps: set[str] | frozenset[str],
    load_groups: Any = None,
) -> LoadStages:
    """Computes the load stages of a step graph.

    Args:
        graph: the step graph; node order and edge order are the pipeline's creation order.
        global_steps: names of the global steps.
        load_groups: lists of steps (or step names) loaded together, ``"sequential_step_execution"``,
            or None.

    Raises:
        LoadGroupsError: the groups name an unknown step, repeat a step, hold an empty group, put
            a global step with others, or would run a step before a predecessor.
    """
    load_groups = normalise_load_groups(load_groups)
    if load_groups == SEQUENTIAL:
        groups = [[name] for name in graph]
    elif load_groups is None:
        groups = []
    else:
        groups = [list(group) for group in load_groups]
        _validate_groups(graph, groups, set(global_steps))
    grouped = {name for group in groups for name in group}
    groups += [[name] for name in graph if name in global_steps and name not in grouped]
    group_of = {name: tuple(group) for group in groups for name in group}

    order = list(nx.topological_sort(graph))
    stages: list[tuple[str, ...]] = []
    emitted: set[tuple[str, ...]] = set()
    free_run: list[str] = []
    for name in order:
        group = group_of.get(name)
        if group is None:
            free_run.append(name)
            continue
        if free_run:
            stages.append(tuple(free_run))
            free_run = []
        if group not in emitted:
            emitted.add(group)
            stages.append(group)
    if free_run:
        stages.append(tuple(free_run))

    plan = LoadStages.of(graph, tuple(stages))
    _check_dependencies(graph, plan)
    return plan
