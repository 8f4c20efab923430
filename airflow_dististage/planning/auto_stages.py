"""Automatic load stages (``load_groups="auto"``): the fewest stages that each fit in ``gpus`` GPUs.

A stage runs all its steps at once, so it needs the sum of ``replicas * gpus`` of its steps. A plan
is valid under the rules :func:`~airflow_dististage.planning.load_stages.plan_load_stages` enforces
for explicit groups: no step in a stage before a predecessor's stage, and every global step alone in
its stage. Stages may come in any order those rules allow, also one no explicit load groups express.

How the plan is found:

- Steps without GPUs (global steps aside) cost nothing. Each joins the open stage as soon as its
  predecessors are placed, or the next stage after a global step: placing a step earlier never
  hurts, since what remains is the same plan problem minus that step. So only the steps holding
  GPUs and the global steps are choices.
- Exact search (at most :data:`EXACT_SEARCH_LIMIT` GPU-holding steps): branch and bound, depth
  first, over sets of placed steps (each closed under predecessors), placing one GPU-holding or
  global step at a time, into the open stage when it fits there, else into a new one. A set reached
  before with no more stages and no fuller open stage is not searched again: that earlier state can
  follow every continuation of this one at no greater cost. Steps with the same need, predecessors
  and successors are interchangeable and placed in plan order. A state is dropped when its lower
  bound cannot beat the best plan known: the larger of (global steps left, plus the stages the GPUs
  left need by Martello and Toth's bin-packing bound L2, the open stage counted as one) and (the
  stages the most demanding chain of steps left needs, filling each stage as far as the chain allows).
- Before searching: the plan without load groups (returned as is when it fits and nothing has fewer
  stages), and two greedy plans (fill the open stage with the largest GPU step that fits; when none
  fits, open a new stage, or place a ready global step first). When the best of them meets the lower
  bound, no search runs. Typical pipelines plan in milliseconds; adversarial graphs of 20 GPU steps
  with needs close to ``gpus`` take up to a few seconds.
- Beyond :data:`EXACT_SEARCH_LIMIT` GPU-holding steps the best of those plans is returned: valid
  and within the GPUs, possibly with more stages than the fewest.

Every choice is taken in the graph's topological order (node creation order, edge connection order),
never in set or hash order: the same pipeline gives the same plan in every process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import networkx as nx

from airflow_dististage.planning.auto_problem import StageProblem, bits
from airflow_dististage.planning.load_stages import AUTO, LoadGroupsError, LoadStages, plan_load_stages

EXACT_SEARCH_LIMIT = 20
"""Up to this many GPU-holding steps the plan has provably the fewest stages; beyond, it is greedy."""


def plan_auto_stages(
    graph: nx.DiGraph,
    global_steps: Iterable[str],
    needs: Mapping[str, int],
    gpus: int,
    *,
    exact_limit: int = EXACT_SEARCH_LIMIT,
) -> LoadStages:
    """The fewest load stages whose GPU needs each fit in ``gpus`` (see the module docstring).

    Args:
        graph: the step graph; node order and edge order are the pipeline's creation order.
        global_steps: names of the global steps.
        needs: GPUs each step holds while it runs (``replicas * gpus``); missing steps need none.
        gpus: the GPUs one stage may use.
        exact_limit: above this many GPU-holding steps, a greedy plan instead of the exact search.

    Raises:
        LoadGroupsError: ``gpus`` is not an integer >= 0, or a step alone needs more than ``gpus``.
    """
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise LoadGroupsError(f"load_groups={AUTO!r} needs gpus= as an integer >= 0, got {gpus!r}.")
    for name in graph:
        need = needs.get(name, 0)
        if need > gpus:
            raise LoadGroupsError(
                f"Step {name!r} needs {need} GPU(s) (all its replicas run at once), but load_groups={AUTO!r}"
                f" plans stages of at most {gpus} GPU(s): lower its resources or plan for more GPUs."
            )
    problem = StageProblem(graph, global_steps, needs, gpus)
    plain = plan_load_stages(graph, global_steps, None).stages
    lower = problem.lower_bound()
    plain_fits = all(sum(needs.get(name, 0) for name in stage) <= gpus for stage in plain)
    if plain_fits and len(plain) == lower:
        return LoadStages.of(graph, plain)
    candidates = [_stages_of(problem, _greedy(problem, globals_first)) for globals_first in (False, True)]
    if plain_fits:
        candidates.insert(0, plain)
    best = min(candidates, key=len)  # the first of the shortest: the plain plan on ties
    if len(best) > lower and len(problem.gpu_steps) <= exact_limit:
        found = _search(problem, len(best), lower)
        if found is not None:
            best = _stages_of(problem, found)
    return LoadStages.of(graph, best)


def _stages_of(problem: StageProblem, assignment: list[int]) -> tuple[tuple[str, ...], ...]:
    """Stage index per step -> stages of names, each in topological order."""
    count = max(assignment, default=-1) + 1
    return tuple(
        tuple(name for name, stage in zip(problem.names, assignment) if stage == index) for index in range(count)
    )


def _greedy(problem: StageProblem, globals_first: bool) -> list[int]:
    """Stage per step: fill the open stage with the largest GPU step that fits, then decide."""
    assignment = [0] * len(problem.names)
    mask, stages, fill = 0, 0, problem.closed
    while mask != problem.full:
        ready = problem.ready(mask)
        fitting = [i for i in ready if not problem.is_global[i] and fill + problem.needs[i] <= problem.capacity]
        global_ready = [i for i in ready if problem.is_global[i]]
        others = [i for i in ready if not problem.is_global[i]]
        waiting = fill == problem.closed and problem.close(mask) != mask
        if fitting:
            state = problem.place(mask, stages, fill, max(fitting, key=lambda i: (problem.needs[i], -i)))
        elif global_ready and (globals_first or not (others or waiting)):
            state = problem.place(mask, stages, fill, global_ready[0])
        elif others:
            state = problem.place(mask, stages, fill, max(others, key=lambda i: (problem.needs[i], -i)))
        else:  # only steps without GPUs are ready, behind a global step
            state = problem.open_stage(mask, stages)
        for i in bits(state[0] & ~mask):
            assignment[i] = state[1] - 1
        mask, stages, fill = state
    return assignment


def _search(problem: StageProblem, bound: int, lower: int) -> list[int] | None:
    """A plan with the fewest stages if it has fewer than ``bound``, else None; stops at ``lower``.

    Depth first over the states between two stages, children with the lowest bound first; a set of
    placed steps reached before with no more stages is not searched again.
    """
    best: list[int] | None = None
    seen: dict[int, int] = {}
    nodes: list[tuple[int, int]] = []  # (parent node, steps its stage added)
    stack: list[tuple[int, int, int, int]] = [(lower, 0, 0, -1)]  # (estimate, mask, stages, node)
    while stack:
        estimate, mask, stages, node = stack.pop()
        if estimate >= bound:
            continue
        if mask == problem.full:
            bound, best = stages, _assignment(nodes, node)
            if bound <= lower:
                return best
            continue
        if seen.get(mask, bound) <= stages:
            continue
        seen[mask] = stages
        children = []
        for new_mask in _next_stages(problem, mask, stages, bound):
            estimate = stages + 1 + problem.stages_left(new_mask, problem.closed)
            if estimate < bound:
                children.append((estimate, new_mask))
        for estimate, new_mask in sorted(children, reverse=True):
            nodes.append((node, new_mask & ~mask))
            stack.append((estimate, new_mask, stages + 1, len(nodes) - 1))
    return best


def _next_stages(problem: StageProblem, mask: int, stages: int, bound: int) -> list[int]:
    """The placed sets after one more stage: a ready global step, or a *maximal* stage of other
    steps (no ready GPU step fits any more) that could still lead to fewer than ``bound`` stages.

    A stage can always be made maximal (a ready step that fits moves into it without breaking a
    rule), so no other stage is needed. Each set of GPU steps is built once, in plan order.
    """
    following = [mask | 1 << i for i in problem.ready(mask) if problem.is_global[i]]
    partial = [(problem.close(mask), 0, -1)]
    while partial:
        placed, fill, last = partial.pop()
        fitting = [
            i for i in problem.ready(placed) if not problem.is_global[i] and fill + problem.needs[i] <= problem.capacity
        ]
        if not fitting:
            if placed != mask:
                following.append(placed)
            continue
        for i in fitting:
            if i > last:
                extended = problem.close(placed | 1 << i, problem.gates_of[i])
                if stages + 1 + problem.stages_left(extended, fill + problem.needs[i]) < bound:
                    partial.append((extended, fill + problem.needs[i], i))
    return following


def _assignment(nodes: list[tuple[int, int]], node: int) -> list[int]:
    """Stage per step along the path of search nodes ending at ``node``."""
    path = []
    while node >= 0:
        node, added = nodes[node]
        path.append(added)
    assignment: dict[int, int] = {}
    for stage, added in enumerate(reversed(path)):
        assignment.update(dict.fromkeys(bits(added), stage))
    return [assignment[i] for i in range(len(assignment))]
