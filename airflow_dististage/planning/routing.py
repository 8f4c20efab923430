"""Where routing batch functions put steps: *branches* and *joins*. Pure functions of the graph.

A *branch* is a successor of a step that routes its batches (it reads only the batches routed
to it). A *join* (distilabel's convergence step) is a step whose predecessors are all normal
branches of one routing step: each of its batches holds, from every branch that got one routed
batch, the rows made from that batch, row i next to row i.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import networkx as nx


@dataclass(frozen=True)
class RoutingRole:
    """``branch_of``: the routing step this step is a branch of; ``joins``: the routing step whose
    branches this step joins. At most one is set."""

    branch_of: str | None = None
    joins: str | None = None


def routing_roles(
    graph: nx.DiGraph, routing_steps: Collection[str], global_steps: Collection[str]
) -> dict[str, RoutingRole]:
    """Every step's :class:`RoutingRole`, given the steps that route their batches and the global steps.

    A join is a normal step and so are its predecessors (a global step's output keeps no routed
    batch apart); a step after one global branch alone, or a global step after branches, is
    neither branch nor join.
    """
    branch_of = {
        name: next((p for p in graph.predecessors(name) if p in routing_steps), None) for name in graph.nodes
    }
    roles: dict[str, RoutingRole] = {}
    for name in graph.nodes:
        predecessors = list(graph.predecessors(name))
        producers = {branch_of[predecessor] for predecessor in predecessors}
        joins = None
        joinable = branch_of[name] is None and name not in global_steps
        if joinable and len(producers) == 1 and None not in producers:
            if not any(predecessor in global_steps for predecessor in predecessors):
                joins = producers.pop()
        roles[name] = RoutingRole(branch_of=branch_of[name], joins=joins)
    return roles
