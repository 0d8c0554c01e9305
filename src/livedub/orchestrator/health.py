"""Readiness of the orchestrator's one dependency: the media server's API (``/readyz``).

An orchestrator that cannot reach the media server cannot reconcile and hears of no publisher:
it is not ready, and says why. The probe lists the live ingest paths (the same call reconciliation
makes); one probe runs at a time and its answer is kept for ``ttl`` seconds, so a burst of health
checks costs the media server one request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from livedub.orchestrator.reconcile import LiveSource


class MediaProbe:
    def __init__(self, source: LiveSource, ttl: float = 0.25, timeout: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.ttl = ttl
        self.timeout = timeout
        self.clock = clock
        self._checked_at = float("-inf")
        self._error: str | None = None
        self._lock: asyncio.Lock | None = None

    async def error(self) -> str | None:
        """None when the media server answered; otherwise what went wrong."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.clock() - self._checked_at >= self.ttl:
                self._error = await self._probe()
                self._checked_at = self.clock()
            return self._error

    async def _probe(self) -> str | None:
        try:
            await asyncio.wait_for(asyncio.to_thread(self.source.list_live_ingest), self.timeout)
        except asyncio.TimeoutError:
            return f"the media server's API did not answer within {self.timeout:g}s"
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"; the reason is reported
            return f"{type(exc).__name__}: {exc}"[:500]
        return None
