"""The planning problem behind ``load_groups="auto"``: the step graph as bit masks, moves and lower bounds.

Steps are numbered in the graph's topological order (node creation order, edge connection order);
a set of steps is an ``int`` with bit ``i`` for step ``i``. A *state* is the set of placed steps, the
stages opened so far and the GPUs the open stage uses (:attr:`StageProblem.closed` when nothing may
join it). *Choices* are the steps that hold GPUs and the global steps; every other step joins the
open stage as soon as its predecessors are placed (see :mod:`~airflow_dististage.planning.auto_stages`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import networkx as nx


class StageProblem:
    """The step graph as bit masks over its topological order, with each step's GPU need, its moves and
    lower bounds on the stages a state still needs."""

    def __init__(self, graph: nx.DiGraph, global_steps: Iterable[str], needs: Mapping[str, int], gpus: int) -> None:
        globals_ = set(global_steps)
        self.names = tuple(nx.topological_sort(graph))
        index = {name: position for position, name in enumerate(self.names)}
        self.needs = tuple(needs.get(name, 0) for name in self.names)
        self.capacity = min(gpus, sum(self.needs))
        """``gpus``, or all the steps need if less: no stage can use more (keeps the tables small)."""
        self.closed = self.capacity + 1
        """The fill of a stage nothing may join: a global step's, or none opened yet."""
        self.is_global = tuple(name in globals_ for name in self.names)
        self.preds = tuple(sum(1 << index[p] for p in graph.predecessors(name)) for name in self.names)
        self.full = (1 << len(self.names)) - 1
        positions = range(len(self.names))
        self.choices = tuple(i for i in positions if self.is_global[i] or self.needs[i])
        choice_mask = sum(1 << i for i in self.choices)
        self.gpu_steps = tuple(sorted((i for i in self.choices if not self.is_global[i]), key=lambda i: self.needs[i]))
        """Ordered by need, so that equal remaining needs give equal keys of :meth:`_bins`."""
        self._bins_of: dict[tuple[int, ...], int] = {}
        self.non_global = sum(1 << i for i in positions if not self.is_global[i])
        self.twin_before = self._twins(graph, index)
        self.gates = self._gates(graph, index, choice_mask)
        self.gates_of = {i: tuple((gate, steps) for gate, steps in self.gates if gate >> i & 1) for i in self.choices}
        """Per choice, the gates it is part of: the only ones placing it can open."""
        self.chains = self._chains(graph, index)
        self.gate_chains = tuple(max(self.chains[i][self.closed] for i in bits(steps)) for _, steps in self.gates)
        self.around_global = tuple(
            (
                1 << i,
                sum(1 << index[a] for a in nx.ancestors(graph, self.names[i]) if a not in globals_),
                sum(1 << index[d] for d in nx.descendants(graph, self.names[i]) if d not in globals_),
            )
            for i in positions
            if self.is_global[i]
        )
        """Per global step: its bit, and those of the other steps before it and after it."""

    def _gates(self, graph: nx.DiGraph, index: dict[str, int], choice_mask: int) -> tuple[tuple[int, int], ...]:
        """The steps without GPUs grouped by the choices among their ancestors: ``(choices, steps)``.

        Such a step can join the open stage once those choices are placed (its other ancestors,
        free like it, join with or before it).
        """
        gates: dict[int, int] = {}
        ancestors: dict[int, int] = {}
        for i, name in enumerate(self.names):
            ancestors[i] = 0
            for predecessor in graph.predecessors(name):
                p = index[predecessor]
                ancestors[i] |= ancestors[p] | (1 << p & choice_mask)
            if not choice_mask >> i & 1:
                gates[ancestors[i]] = gates.get(ancestors[i], 0) | 1 << i
        return tuple(gates.items())

    def _twins(self, graph: nx.DiGraph, index: dict[str, int]) -> dict[int, int]:
        """For each choice, the bit of the previous interchangeable one, else 0.

        Two choices are interchangeable when they have the same kind and need, the same predecessors
        and the same successors, where a step without GPUs that only feeds this choice counts as its
        own predecessors, and one that only this choice feeds as its own successors: such a step is
        placed exactly as its counterpart, so swapping both pairs keeps every plan valid.
        """
        def is_free(i: int) -> bool:
            return not self.is_global[i] and not self.needs[i]

        before_of = [0] * len(self.names)
        for i, name in enumerate(self.names):
            for predecessor in graph.predecessors(name):
                p = index[predecessor]
                private = is_free(p) and graph.out_degree(predecessor) == 1
                before_of[i] |= before_of[p] if private else 1 << p
        after_of = [0] * len(self.names)
        for i in reversed(range(len(self.names))):
            for successor in graph.successors(self.names[i]):
                j = index[successor]
                attached = is_free(j) and graph.in_degree(successor) == 1
                after_of[i] |= after_of[j] if attached else 1 << j
        last: dict[tuple[bool, int, int, int], int] = {}
        before: dict[int, int] = {}
        for i in self.choices:
            key = (self.is_global[i], self.needs[i], before_of[i], after_of[i])
            before[i] = last.get(key, 0)
            last[key] = 1 << i
        return before

    # -- moves -------------------------------------------------------------------------------
    def close(self, mask: int, gates: tuple[tuple[int, int], ...] | None = None) -> int:
        """``mask`` plus every step without GPUs whose predecessors are placed (of ``gates`` only, if given)."""
        for gate, steps in self.gates if gates is None else gates:
            if gate & ~mask == 0:
                mask |= steps
        return mask

    def ready(self, mask: int) -> list[int]:
        """The choices whose predecessors (and interchangeable predecessors) are placed."""
        return [
            i
            for i in self.choices
            if not mask >> i & 1 and (self.preds[i] | self.twin_before[i]) & ~mask == 0
        ]

    def place(self, mask: int, stages: int, fill: int, item: int) -> tuple[int, int, int]:
        """State after placing ``item``: in the open stage when it fits there, else in a new one."""
        if self.is_global[item]:
            return mask | 1 << item, stages + 1, self.closed
        need = self.needs[item]
        # An open stage took every step its placed choices allowed: only this item's gates can open.
        gates = self.gates_of[item] if fill != self.closed else None
        if fill + need <= self.capacity:
            return self.close(mask | 1 << item, gates), stages, fill + need
        return self.close(mask | 1 << item, gates), stages + 1, need

    def open_stage(self, mask: int, stages: int) -> tuple[int, int, int]:
        """State after opening a stage for the steps without GPUs that wait behind a global step."""
        return self.close(mask), stages + 1, 0

    # -- bounds ------------------------------------------------------------------------------
    def stages_left(self, mask: int, fill: int) -> int:
        """A lower bound on the stages still to open from a state: the global steps left plus the
        stages the other steps need, and the stages the most demanding chain of steps left needs."""
        left = ~mask & self.full
        if not left:
            return 0
        return max(self._globals_and_others(left, fill), self._chain(mask, fill))

    def _globals_and_others(self, left: int, fill: int) -> int:
        """The global steps left plus the most of these stages for the others (the open stage, when
        open, takes what fits): the stages their GPUs need (Martello and Toth's L2); those the GPUs
        of the steps before a global step left need, plus one after the last global step when each
        has a step after it; and one when some step must wait for a global step."""
        is_open = fill != self.closed
        globals_left = [(before, after) for bit, before, after in self.around_global if bit & left]
        stages = self._new_bins(left, fill)
        if globals_left and all(after & left for _, after in globals_left):
            before = 0
            for mask, _ in globals_left:
                before |= mask
            stages = max(stages, self._new_bins(before & left, fill) + 1)
        if not stages and self.non_global & left and (not is_open or any(after & left for _, after in globals_left)):
            stages = 1
        return len(globals_left) + stages

    def _new_bins(self, steps: int, fill: int) -> int:
        """New stages the GPUs of ``steps`` need, the open stage (when open) holding what fits."""
        weights = tuple(self.needs[i] for i in self.gpu_steps if steps >> i & 1)
        if fill == self.closed:
            return self._bins(weights)
        return max(0, self._bins(weights + (fill,)) - 1)

    def _bins(self, weights: tuple[int, ...]) -> int:
        """:func:`bin_packing_bound` of ``weights`` (ordered as :attr:`gpu_steps`), computed once each."""
        known = self._bins_of.get(weights)
        if known is None:
            known = self._bins_of[weights] = bin_packing_bound(list(weights), self.capacity)
        return known

    def _chains(self, graph: nx.DiGraph, index: dict[str, int]) -> tuple[tuple[int, ...], ...]:
        """Per step and fill of the open stage (0 .. gpus, or :attr:`closed`), the most new stages one
        chain starting at the step needs: on a chain, stages hold consecutive steps, so filling each
        stage as far as the chain allows (a global step alone) needs the fewest."""
        chains: list[tuple[int, ...]] = [()] * len(self.names)
        for i in reversed(range(len(self.names))):
            successors = [chains[index[s]] for s in graph.successors(self.names[i])]
            row = []
            for fill in range(self.closed + 1):
                if self.is_global[i]:
                    new, fill_after = 1, self.closed
                elif fill + self.needs[i] <= self.capacity:
                    new, fill_after = 0, fill + self.needs[i]
                else:
                    new, fill_after = 1, self.needs[i]
                row.append(new + max((chain[fill_after] for chain in successors), default=0))
            chains[i] = tuple(row)
        return tuple(chains)

    def _chain(self, mask: int, fill: int) -> int:
        """The most new stages a chain of unplaced steps needs. Each starts at or after an unplaced
        step whose predecessors are placed, and a chain needs no fewer stages with steps before it."""
        longest = 0
        for i in self.choices:
            if not mask >> i & 1 and self.preds[i] & ~mask == 0:
                longest = max(longest, self.chains[i][fill])
        if fill == self.closed:
            for (gate, steps), chain in zip(self.gates, self.gate_chains):
                if gate & ~mask == 0 and steps & ~mask:
                    longest = max(longest, chain)
        return longest

    def lower_bound(self) -> int:
        """Stages any valid plan needs."""
        return self.stages_left(0, self.closed)


def bits(mask: int) -> Iterator[int]:
    """Positions of the set bits of ``mask``, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def bin_packing_bound(weights: list[int], capacity: int) -> int:
    """Martello and Toth's L2: bins of ``capacity`` any packing of ``weights`` (each <= capacity) needs."""
    weights = [w for w in weights if w]
    if not weights:
        return 0
    best = 0
    for k in sorted({0, *(w for w in weights if 2 * w <= capacity)}):
        big = [w for w in weights if w > capacity - k]
        medium = [w for w in weights if capacity - k >= w and 2 * w > capacity]
        small = sum(w for w in weights if 2 * w <= capacity and w >= k)
        room = len(medium) * capacity - sum(medium)
        best = max(best, len(big) + len(medium) + max(0, -(-(small - room) // capacity)))
    return best
