"""``Backoff``: the polling wait of steps that wait for their predecessors' markers or parts."""

from __future__ import annotations

import time


class Backoff:
    """Sleeps between looks at the store: ``first`` seconds, doubling up to ``longest``.

    ``reset`` goes back to ``first`` once the awaited thing showed up.
    """

    def __init__(self, first: float, longest: float) -> None:
        self.first = first
        self.longest = max(first, longest)
        self._wait = first

    def sleep(self) -> None:
        """Sleeps the current wait, then doubles it (at most ``longest``)."""
        time.sleep(self._wait)
        self._wait = min(self._wait * 2, self.longest)

    def reset(self) -> None:
        """The next :meth:`sleep` waits ``first`` seconds again."""
        self._wait = self.first
