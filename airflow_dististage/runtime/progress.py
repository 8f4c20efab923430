"""Progress of one step execution: counters, periodic log lines and what the heartbeat publishes."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_dististage.runtime.run_report import step_report

if TYPE_CHECKING:
    from airflow_dististage.planning import ExecutionPlan
    from airflow_dististage.runtime.store import BatchStore

logger = logging.getLogger("airflow_dististage.runtime")


@dataclass
class StepProgress:
    """Rows and batches one replica of a step has read and written so far, and the input and output
    tokens its LLM reported for them (0 for steps without an LLM)."""

    step: str
    replica: int = 0
    log_interval: float = 10.0
    batches_in: int = 0
    rows_in: int = 0
    batches_out: int = 0
    rows_out: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    started_at: float = field(default_factory=time.monotonic)
    _last_log: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started_at

    def restart(self) -> None:
        """Forgets the counted batches: the step starts over on recomputed inputs."""
        self.batches_in = self.rows_in = self.batches_out = self.rows_out = 0
        self.input_tokens = self.output_tokens = 0

    def consumed(self, rows: int) -> None:
        """Counts one input batch of ``rows`` rows."""
        self.batches_in += 1
        self.rows_in += rows

    def produced(self, rows: int) -> None:
        """Counts one output part of ``rows`` rows, and logs when a log line is due."""
        self.batches_out += 1
        self.rows_out += rows
        if time.monotonic() - self._last_log >= self.log_interval:
            self.log("running")

    def used_tokens(self, input_tokens: int, output_tokens: int) -> None:
        """Counts the tokens of one committed output part."""
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens

    @property
    def tokens(self) -> int:
        """Input plus output tokens so far."""
        return self.input_tokens + self.output_tokens

    def as_payload(self) -> dict[str, float | int]:
        """The counters as the ``started`` marker's heartbeat publishes them (the ``finished``
        marker holds the same keys): ``batches_in``, ``rows_in``, ``batches_out``, ``rows_out``,
        ``input_tokens``, ``output_tokens`` (ints, this replica's totals so far) and ``seconds``."""
        return {
            "batches_in": self.batches_in,
            "rows_in": self.rows_in,
            "batches_out": self.batches_out,
            "rows_out": self.rows_out,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "seconds": round(self.seconds, 3),
        }

    def log(self, state: str) -> None:
        """One log line: rows in/out, batches, rows/s and, when an LLM reported them, tokens."""
        self._last_log = time.monotonic()
        seconds = self.seconds
        rate = self.rows_out / seconds if seconds > 0 else 0.0
        tokens = f", {self.input_tokens} input + {self.output_tokens} output tokens" if self.tokens else ""
        logger.info(
            "step %s replica %d %s: %d rows in (%d batches), %d rows out (%d batches), %.0f rows/s, %.1f s%s",
            self.step,
            self.replica,
            state,
            self.rows_in,
            self.batches_in,
            self.rows_out,
            self.batches_out,
            rate,
            seconds,
            tokens,
        )


class LiveDisplay:
    """A live per-step table (state, rows in/out, batches, rows/s, tokens) read from the store's markers.

    Used by the local runner when its output is a terminal; ``refresh`` is cheap enough to call
    a few times a second.
    """

    def __init__(self, store: BatchStore, plan: ExecutionPlan, fingerprints: Mapping[str, str]) -> None:
        from rich.console import Console
        from rich.live import Live

        self._store = store
        self._plan = plan
        self._fingerprints = fingerprints
        self._live = Live(console=Console(), auto_refresh=False, transient=False)

    def __enter__(self) -> LiveDisplay:
        self._live.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.refresh()
        self._live.__exit__(*exc_info)

    def refresh(self) -> None:
        """Redraws the table from the current markers."""
        from rich.table import Table

        table = Table(title=f"pipeline {self._plan.pipeline_name}")
        for column in ("stage", "step", "state", "rows in", "rows out", "batches out", "rows/s", "tokens"):
            table.add_column(column)
        now = time.time()
        for name, step_plan in self._plan.steps.items():
            report = step_report(self._store.step(name, self._fingerprints[name]), step_plan, now)
            table.add_row(
                str(step_plan.stage),
                name,
                report.state,
                str(report.total("rows_in")),
                str(report.total("rows_out")),
                str(report.total("batches_out")),
                f"{report.rows_per_second or 0.0:,.0f}",
                str((report.total("input_tokens") or 0) + (report.total("output_tokens") or 0)),
            )
        self._live.update(table, refresh=True)
