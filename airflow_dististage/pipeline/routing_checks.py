"""Pipeline-build checks of routing batch functions, their branches and the steps that join them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_dististage.pipeline.routing_batch_function import RoutingError
from airflow_dististage.planning.routing import routing_roles

if TYPE_CHECKING:
    from airflow_dististage.pipeline.base import Pipeline


def check_routing(pipeline: Pipeline) -> None:
    """Raises :class:`RoutingError` naming the step and router at fault for a routing the runtime cannot honour.

    Each routing step has successors enough for its router; each of them (a branch) has the
    routing step as its only predecessor; a normal step after a branch is a join (all its
    predecessors normal branches of one routing step) or follows one global branch alone.
    """
    routers = pipeline.routing_batch_functions
    if not routers:
        return
    graph = pipeline.dag
    for name, router in routers.items():
        successors = list(graph.successors(name))
        router.check_successors(name, successors)
        for successor in successors:
            others = [predecessor for predecessor in graph.predecessors(successor) if predecessor != name]
            if others:
                raise RoutingError(
                    f"Step {successor!r} gets the batches step {name!r} routes with {router.label}, so it"
                    f" cannot have other predecessors; it also has {others}."
                )
    global_steps = pipeline.global_step_names()
    roles = routing_roles(graph, routers, global_steps)
    for name in graph.nodes:
        predecessors = list(graph.predecessors(name))
        branches = [predecessor for predecessor in predecessors if roles[predecessor].branch_of is not None]
        role = roles[name]
        if not branches or role.branch_of is not None or role.joins is not None or name in global_steps:
            continue  # a global step takes each predecessor's rows whole: nothing to align
        producer = roles[branches[0]].branch_of
        label = routers[producer].label
        strangers = [p for p in predecessors if roles[p].branch_of != producer]
        if strangers:
            raise RoutingError(
                f"Step {name!r} joins {branches}, which get the batches step {producer!r} routes with {label},"
                f" so every predecessor of it must be such a branch; {strangers} are not."
            )
        if len(predecessors) > 1:
            global_branches = [p for p in predecessors if p in global_steps]
            raise RoutingError(
                f"Step {name!r} joins the branches {predecessors} of step {producer!r} ({label}), but"
                f" {global_branches} are global steps: their output does not keep the routed batches apart,"
                " so their rows cannot be joined batch by batch."
            )
