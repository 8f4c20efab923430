"""Token budgets: when an LLM step stops generating (``max_tokens_per_run``).

Tokens are input plus output tokens as the LLM reports them in its ``statistics`` (a step whose LLM
reports none counts 0). Two budgets may apply to a step, checked before each input batch:

- the step's own ``max_tokens_per_run`` (a runtime parameter of every task): the step's replicas
  share it evenly (replica ``r`` of ``N`` gets ``budget // N``, plus one for ``r < budget % N``), so
  each decides alone and a rerun keeps the same rows;
- the run's ``max_tokens_per_run`` (``pipeline.run(...)`` or ``compile_pipeline(...)``): the tokens of
  every LLM step of the run's outputs together, as the Distiset's metadata totals them; the other
  steps' counts are read from their markers, which running steps refresh with each heartbeat, so
  LLM steps that run at the same time may together pass it by what they generated since.

The batch that reaches a budget is kept: a budget stops the next batch, never one in flight. A
step that processes several batches at once (``Step.batches_in_flight()``, e.g. an ``OpenAILLM``
task keeps ``ceil(max_concurrency / input_batch_size) + 1`` in flight) checks the budget before it
reads each batch, against the batches written so far, so it may pass a budget by the tokens of at
most ``batches_in_flight()`` batches (one batch without read-ahead); where it stops depends on which
answers came first. The step
then finishes successfully with the rows it has: with one replica it reads no more input; a replica
of several commits its remaining batches empty, since readers take part ``k`` from replica ``k % N``.
A resumed step starts from the counts of its last heartbeat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_dististage.runtime.executor import StepExecution
    from airflow_dististage.runtime.progress import StepProgress
    from airflow_dististage.runtime.store import StepData


def check_token_budget(value: Any, name: str) -> int | None:
    """``value`` when it is None or an integer >= 1; else ``ValueError`` naming ``name``."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be None or an integer >= 1, got {value!r}.")
    return value


def counts_tokens(step: Any) -> bool:
    """Whether ``step`` reports the tokens its LLM used (a task: ``take_token_counts``)."""
    return callable(getattr(step, "take_token_counts", None))


def marker_tokens(marker: dict[str, Any] | None) -> int:
    """Input plus output tokens a ``started`` or ``finished`` marker records (0 for None or none)."""
    if marker is None:
        return 0
    return int(marker.get("input_tokens", 0)) + int(marker.get("output_tokens", 0))


class TokenBudget:
    """The budgets of one replica of one step (see the module docstring).

    Args:
        execution: the replica's execution.
        steps: the pipeline's steps by name (to find the other LLM steps).
        run_limit: the run's ``max_tokens_per_run``, or None.
    """

    def __init__(self, execution: StepExecution, steps: dict[str, Any], run_limit: int | None) -> None:
        self._step = execution.step
        self._counts = counts_tokens(self._step)
        replicas = execution.step_plan.replicas
        limit = getattr(self._step, "max_tokens_per_run", None) if self._counts else None
        self.step_limit: int | None = limit
        self.share: int | None = None
        if limit is not None:
            self.share = limit // replicas + (1 if execution.replica < limit % replicas else 0)
        self.run_limit = run_limit if self._counts else None
        self._others: list[tuple[StepData, int]] = []
        if self.run_limit is not None:
            for name, step in steps.items():
                if counts_tokens(step):
                    data = execution.data_of(name)
                    self._others.extend(
                        (data, replica)
                        for replica in range(execution.plan.steps[name].replicas)
                        if (name, replica) != (execution.step_name, execution.replica)
                    )
        self._finished: dict[tuple[str, int], int] = {}

    def take(self) -> tuple[int, int]:
        """``(input_tokens, output_tokens)`` the step's LLM reported since the last call."""
        return self._step.take_token_counts() if self._counts else (0, 0)

    def reached(self, progress: StepProgress) -> str | None:
        """Why no further batch may be generated, or None while every budget has room."""
        used = progress.tokens
        if self.share is not None and used >= self.share:
            share = "" if self.share == self.step_limit else f" (this replica's share: {self.share})"
            return f"it used {used} tokens, and the step's max_tokens_per_run is {self.step_limit}{share}"
        if self.run_limit is not None:
            total = used + sum(self._tokens_of(data, replica) for data, replica in self._others)
            if total >= self.run_limit:
                return f"the run's LLM steps used {total} tokens, and the run's max_tokens_per_run is {self.run_limit}"
        return None

    def _tokens_of(self, data: StepData, replica: int) -> int:
        key = (data.name, replica)
        if key in self._finished:
            return self._finished[key]
        finished = data.read_marker("finished", replica)
        if finished is not None:
            self._finished[key] = marker_tokens(finished)
            return self._finished[key]
        return marker_tokens(data.read_marker("started", replica))
