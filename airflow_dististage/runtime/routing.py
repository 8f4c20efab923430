"""Routing at run time: the routing step records each decision in the part it routes; branches and
joins read it from there.

A step with a routing batch function decides, for each *routed batch* (one output part; the
whole output of a global step), which successors get it, and stores the decision in the part's
schema metadata (:data:`ROUTE_KEY`), so it is committed with the rows by the same atomic write.
A retry that resumes the step keeps the parts it finds, and their decisions; it asks the router
again for every earlier batch before deciding a new one (see :class:`RouteDecisions`), so a
seeded router continues exactly where an uninterrupted run would be.

A branch reads the parts routed to it and batches each routed batch on its own (a batch never
mixes rows of two routed batches); each of its parts records the decision its rows came from
(:data:`ROUTED_FROM_KEY`). A join groups its branches' parts by routed batch: for each routed
batch, in order, one list per branch that got it (in predecessor order), ``input_batch_size``
rows at a time, as distilabel's convergence steps receive them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, groupby
from typing import TYPE_CHECKING, Any

from airflow_dististage.runtime.batching import RowBuffer, input_batches
from airflow_dististage.runtime.store import StoredPart

if TYPE_CHECKING:
    from airflow_dististage.pipeline.routing_batch_function import RoutingBatchFunction
    from airflow_dististage.planning import StepPlan

Row = dict[str, Any]

ROUTE_KEY = "dististage.route"
"""Schema metadata of a routing step's part: the :class:`Route` of its routed batch."""
ROUTED_FROM_KEY = "dististage.routed_from"
"""Schema metadata of a branch's part: the :class:`Route` of the routed batch its rows came from."""


@dataclass(frozen=True)
class Route:
    """Routed batch ``batch`` of a routing step went to the successors ``to`` (in the router's order)."""

    batch: int
    to: tuple[str, ...]

    def encode(self) -> str:
        return json.dumps({"batch": self.batch, "to": list(self.to)})

    @classmethod
    def of(cls, part: StoredPart, key: str, where: str) -> Route:
        """The route recorded under ``key`` in ``part``; ``where`` names the part in the error."""
        text = part.metadata.get(key)
        if text is None:
            raise RuntimeError(f"{where} records no routing decision ({key}): rerun that step.")
        value = json.loads(text)
        return cls(batch=int(value["batch"]), to=tuple(value["to"]))


InputBatch = tuple[list[list[Row]], Route | None]
"""One input batch of a step (one row list per predecessor) and, for a branch, the route its rows came with."""


class RouteDecisions:
    """One attempt's routing decisions of a routing step, asked of its router batch after batch.

    The router draws from its own copy of the ``random`` state, put in place only while it
    decides, so neither the step's own use of ``random`` nor another attempt changes its draws.
    Deciding batch ``b`` first decides every earlier batch, in order.

    Args:
        router: the step's routing batch function.
        successors: the names it chooses from (the step's successors, in connection order).
        random_state: where its draws start (``Pipeline.routing_random_state``).
        single_batch: the step's whole output is one routed batch (a global step's, as in distilabel).
    """

    def __init__(
        self, router: RoutingBatchFunction, successors: Sequence[str], random_state: Any, *, single_batch: bool
    ) -> None:
        self._router = router
        self._successors = list(successors)
        self._single_batch = single_batch
        self._state = random_state
        self._last: Route | None = None

    def route_of(self, sequence: int) -> Route:
        """The route of the routed batch that output part ``sequence`` belongs to."""
        batch = 0 if self._single_batch else sequence
        if self._last is not None and batch < self._last.batch:
            raise ValueError(f"Routes are decided in order: batch {batch} comes after batch {self._last.batch}.")
        while self._last is None or self._last.batch < batch:
            following = 0 if self._last is None else self._last.batch + 1
            self._last = Route(following, tuple(self._decide()))
        return self._last

    def _decide(self) -> list[str]:
        saved = random.getstate()
        random.setstate(self._state)
        try:
            return self._router.route(self._successors)
        finally:
            self._state = random.getstate()
            random.setstate(saved)


def part_metadata(decisions: RouteDecisions | None, sequence: int, routed_from: Route | None) -> dict[str, str]:
    """The routing metadata of output part ``sequence``: its own route, and the route its rows came with."""
    metadata: dict[str, str] = {}
    if decisions is not None:
        metadata[ROUTE_KEY] = decisions.route_of(sequence).encode()
    if routed_from is not None:
        metadata[ROUTED_FROM_KEY] = routed_from.encode()
    return metadata


def step_input_batches(step: StepPlan, sources: Sequence[Iterable[StoredPart]], size: int) -> Iterator[InputBatch]:
    """The input batches of a normal step from its predecessors' parts (one source per predecessor)."""
    if step.branch_of is not None:
        return _branch_batches(sources[0], step, size)
    if step.joins is not None:
        return _join_batches(sources, step, size)
    return ((batch, None) for batch in input_batches([_rows(source) for source in sources], size))


def global_step_inputs(step: StepPlan, sources: Sequence[Iterable[StoredPart]]) -> list[Iterator[list[Row]]]:
    """Per predecessor, the row lists a global step reads: for a branch, the parts routed to it."""
    if step.branch_of is None:
        return [_rows(source) for source in sources]
    return [(part.rows for part, _ in _routed_to(sources[0], step))]


def _rows(source: Iterable[StoredPart]) -> Iterator[list[Row]]:
    return (part.rows for part in source)


def _routed_to(source: Iterable[StoredPart], step: StepPlan) -> Iterator[tuple[StoredPart, Route]]:
    for sequence, part in enumerate(source):
        route = Route.of(part, ROUTE_KEY, f"Part {sequence} of step {step.branch_of!r}")
        if step.name in route.to:
            yield part, route


def _branch_batches(source: Iterable[StoredPart], step: StepPlan, size: int) -> Iterator[InputBatch]:
    """Batches of up to ``size`` rows of each routed batch that went to ``step``, in order.

    Each batch is yielded as soon as its rows are read: only a routed batch's last, shorter batch
    waits for the part after it (which tells that the routed batch ended).
    """
    for _, parts in groupby(_routed_to(source, step), key=lambda routed: routed[1].batch):
        first, route = next(parts)
        buffer = RowBuffer(chain([first.rows], (part.rows for part, _ in parts)))
        while rows := buffer.take(size):
            yield [rows], route


def _join_batches(sources: Sequence[Iterable[StoredPart]], step: StepPlan, size: int) -> Iterator[InputBatch]:
    """For each routed batch in order, batches of ``size`` rows from each branch that got it, side by side."""
    streams = [_routed_from(parts, name) for name, parts in zip(step.predecessors, sources)]
    heads = [next(stream, None) for stream in streams]
    while any(head is not None for head in heads):
        batch = min(head[0].batch for head in heads if head is not None)
        route = next(head[0] for head in heads if head is not None and head[0].batch == batch)
        rows_of_branches: list[list[Row]] = []
        for index, name in enumerate(step.predecessors):
            if name not in route.to:
                continue
            rows: list[Row] = []
            while heads[index] is not None and heads[index][0].batch == batch:
                rows.extend(heads[index][1])
                heads[index] = next(streams[index], None)
            rows_of_branches.append(rows)
        stray = [name for name, head in zip(step.predecessors, heads) if head is not None and head[0].batch == batch]
        if stray:
            raise RuntimeError(
                f"Step {step.name!r}: {stray} hold rows of routed batch {batch} of step {step.joins!r}, which"
                f" was routed to {list(route.to)} only; rerun them."
            )
        for batch_rows in input_batches([[rows] for rows in rows_of_branches], size):
            yield batch_rows, None


def _routed_from(parts: Iterable[StoredPart], branch: str) -> Iterator[tuple[Route, list[Row]]]:
    for index, part in enumerate(parts):
        yield Route.of(part, ROUTED_FROM_KEY, f"Part {index} of step {branch!r}"), part.rows
