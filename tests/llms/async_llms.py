"""A custom ``AsyncLLM`` written the way distilabel documents one, for the async tests and DAG files."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_dististage.models.llms.base import AsyncLLM
from airflow_dististage.typing import ChatType, GenerateOutput


class RendezvousLLM(AsyncLLM):
    """Answers ``"<last message><suffix>"``, but only once ``together`` calls are in flight at once.

    Each ``agenerate`` call waits (at most ``wait`` seconds) until ``together`` calls have arrived,
    so rows get answers only when a batch's inputs really run concurrently; a lone call times out
    and its row fails. A chat whose last message contains ``poison`` raises ``ValueError`` once the
    group met. ``peak`` is the most calls seen in flight at once.
    """

    together: int = 1
    wait: float = 5.0
    model: str = "rendezvous"

    @property
    def model_name(self) -> str:
        return self.model

    def load(self) -> None:
        super().load()
        self.peak = 0
        self._in_flight = 0
        self._arrived = 0
        self._group: asyncio.Event | None = None

    async def agenerate(  # type: ignore[override]
        self, input: ChatType, num_generations: int = 1, suffix: str = "!"  # noqa: A002 - distilabel's name
    ) -> GenerateOutput:
        """Answers one chat.

        Args:
            suffix: appended to each answer.
        """
        self._in_flight += 1
        self.peak = max(self.peak, self._in_flight)
        try:
            await self._meet()
            last = input[-1]["content"]
            if "poison" in last:
                raise ValueError(f"poisoned row {last!r}")
            answers = [f"{last}{suffix}"] * num_generations
            return {
                "generations": answers,
                "statistics": {
                    "input_tokens": [len(last.split())] * num_generations,
                    "output_tokens": [len(answer.split()) for answer in answers],
                },
            }
        finally:
            self._in_flight -= 1

    async def _meet(self) -> None:
        if self._group is None:
            self._group = asyncio.Event()
        group = self._group
        self._arrived += 1
        if self._arrived % self.together == 0:
            group.set()
            self._group = None
        else:
            await asyncio.wait_for(group.wait(), self.wait)


def answers_of(outputs: list[dict[str, Any]]) -> list[Any]:
    """The generations of each output."""
    return [output["generations"] for output in outputs]
