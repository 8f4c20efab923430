"""``RequestGate``: what every request of one LLM passes, whichever input batch it answers.

One gate per LLM (per event loop) is shared by all the batches a step has in flight, so the limits
hold for the step replica as a whole, not per batch:

- **concurrency**: at most ``limit`` requests in flight. The limit starts at ``max_concurrency``;
  a 429 halves it (at most once per pause) and each answered request gives back ``1 / limit``,
  so it grows by about one per round of requests until ``max_concurrency`` again (AIMD).
- **pause**: a 429 stops every new request until its ``Retry-After`` (or the retry delay) passed.
- **rates**: ``requests_per_minute`` and ``tokens_per_minute`` space requests evenly (no burst): a
  request starts at the earliest time both schedules allow, and books ``60 / requests_per_minute``
  seconds of the request schedule and ``tokens * 60 / tokens_per_minute`` of the token schedule.
  Tokens are estimated before the request; :meth:`settle` corrects the schedule by what the server
  reported it used. Any window of ``T`` seconds thus starts at most ``T * rate / 60 + 1`` requests.

It lives on the LLM's event loop: call it only from coroutines on that loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["RequestGate"]


class RequestGate:
    """Concurrency, pause and rate limits shared by the requests of one LLM (see the module docstring).

    Args:
        max_concurrency: most requests in flight, or None for no limit (no adaptive back-off either).
        requests_per_minute: most requests started per minute, or None.
        tokens_per_minute: most tokens (input + output) per minute, or None.
    """

    def __init__(
        self,
        max_concurrency: int | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
    ) -> None:
        self.max_concurrency = max_concurrency
        self.limit: float | None = float(max_concurrency) if max_concurrency else None
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.in_flight = 0
        self.peak_in_flight = 0
        self.throttled_count = 0
        self._paused_until = 0.0
        self._last_cut = float("-inf")
        self._next_request = 0.0
        self._next_tokens = 0.0
        self._changed: asyncio.Condition | None = None

    @property
    def _condition(self) -> asyncio.Condition:
        if self._changed is None:  # made on first use, so on the loop that uses it
            self._changed = asyncio.Condition()
        return self._changed

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Holds one of the ``limit`` places in flight while the block runs."""
        async with self._condition:
            await self._condition.wait_for(lambda: self.limit is None or self.in_flight < int(self.limit))
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            async with self._condition:
                self.in_flight -= 1
                self._condition.notify_all()

    async def pace(self, tokens: int = 0) -> None:
        """Waits until a request estimated at ``tokens`` may start: after any pause, within the rates."""
        while True:
            now = time.monotonic()
            if now < self._paused_until:
                await asyncio.sleep(self._paused_until - now)
                continue
            start = max(now, self._next_request, self._next_tokens)
            if self.requests_per_minute:
                self._next_request = start + 60.0 / self.requests_per_minute
            if self.tokens_per_minute:
                self._next_tokens = start + tokens * 60.0 / self.tokens_per_minute
            if start > now:
                await asyncio.sleep(start - now)
            return

    def settle(self, estimated: int, used: int | None) -> None:
        """Corrects the token schedule once the server said how many tokens a request ``used``."""
        if self.tokens_per_minute and used is not None:
            self._next_tokens += (used - estimated) * 60.0 / self.tokens_per_minute

    def succeeded(self) -> None:
        """One request was answered: the concurrency limit grows back by ``1 / limit``.

        Called inside :meth:`slot`: leaving it wakes whoever waits for the larger limit.
        """
        if self.limit is not None and self.max_concurrency is not None and self.limit < self.max_concurrency:
            self.limit = min(float(self.max_concurrency), self.limit + 1.0 / self.limit)

    def throttled(self, pause: float) -> None:
        """The server answered 429: pause every request ``pause`` seconds and halve the concurrency limit.

        The many requests in flight that get their 429 at about the same time cut the limit once.
        """
        self.throttled_count += 1
        now = time.monotonic()
        self._paused_until = max(self._paused_until, now + pause)
        if self.limit is not None and now - self._last_cut >= max(pause, 0.1):
            self.limit = max(1.0, self.limit / 2)
            self._last_cut = now
