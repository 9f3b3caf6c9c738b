"""How many requests run at once, in total and per host, and how far apart per host.

Politeness is per host: a site sees at most ``max_per_host`` of our requests at a time,
and successive requests start at least ``delay`` seconds apart (the larger of our own
delay and the site's robots.txt Crawl-delay). A 429 or 503 with Retry-After pushes the
host's next start back, so every waiting request to that host waits, not only the one
that was told to.

A host's slot is taken before the global one: a request waiting for a busy host must not
hold a global slot that a request to an idle host could use. Hosts with nothing in
flight and no pending delay are forgotten, so memory follows the number of active
hosts, not of all hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import AsyncIterator


class _Host:
    __slots__ = ("slots", "users", "next_start")

    def __init__(self, concurrency: int) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.users = 0
        self.next_start = 0.0


class Limits:
    """Concurrency and spacing of requests, shared by every request of one Fetcher."""

    def __init__(self, max_concurrency: int, max_per_host: int) -> None:
        self.max_per_host = max_per_host
        self._global = asyncio.Semaphore(max_concurrency)
        self._hosts: dict[str, _Host] = {}
        self._sweep_at = 1024

    def back_off(self, host: str, seconds: float) -> None:
        """Start no request to ``host`` for ``seconds`` (the site asked us to wait)."""
        state = self._hosts.get(host)
        if state is not None:
            state.next_start = max(state.next_start, time.monotonic() + seconds)

    @contextlib.asynccontextmanager
    async def slot(self, host: str, delay: float = 0.0) -> AsyncIterator[None]:
        """Hold one request slot for ``host`` and one global slot while the block runs,
        starting at least ``delay`` seconds after the previous request to ``host``."""
        state = self._hosts.get(host)
        if state is None:
            self._sweep()
            state = self._hosts[host] = _Host(self.max_per_host)
        state.users += 1
        try:
            async with state.slots:
                now = time.monotonic()
                start = max(now, state.next_start)
                state.next_start = start + delay  # reserved before sleeping: no two share a start
                if start > now:
                    await asyncio.sleep(start - now)
                async with self._global:
                    yield
        finally:
            state.users -= 1

    def _sweep(self) -> None:
        """Forget hosts with nothing in flight and no pending delay (bounded memory)."""
        if len(self._hosts) < self._sweep_at:
            return
        now = time.monotonic()
        for host in [h for h, s in self._hosts.items() if s.users == 0 and s.next_start <= now]:
            del self._hosts[host]
        self._sweep_at = 2 * len(self._hosts) + 1024
