"""Reconciliation: at start and every ``ORCH_RECONCILE_INTERVAL``, compare the streams that have
workers with the ingest paths the media server says are published; the supervisor starts the
missing workers and stops the orphans (after the grace period, like a ``not-ready``).

Hook events can be lost (the orchestrator restarted, a hook timed out); this is what makes the
system converge anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from livedub.media.paths import STREAM_ID_RE
from livedub.orchestrator.actor import ActorBusy, Reconcile, SupervisorActor

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = 1.0  # seconds


class LiveSource(Protocol):
    # after a publish hook, how long the server may still not list the publisher (nginx answers a
    # held publisher's on_publish only once its worker reads: MEDIA_INGEST_HOLD)
    publish_settle_s: float

    def list_live_ingest(self) -> set[str]:
        """Stream ids whose ``live/<id>/in`` is published right now (blocking I/O is fine)."""


class Reconciler:
    def __init__(self, actor: SupervisorActor, source: LiveSource, interval: float,
                 clock: Callable[[], float] | None = None) -> None:
        self.actor = actor
        self.source = source
        self.interval = interval
        self.clock = clock or actor.clock
        self.completed = 0  # successful passes (readiness and tests look at this)
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._first_pass = asyncio.Event()

    async def reconcile_once(self) -> bool:
        # the listing counts as that much older: a stream whose publish hook came within the settle
        # time is left to its events (a held publisher is not listed yet, and its worker must not be
        # stopped as an orphan)
        observed_at = self.clock() - self.source.publish_settle_s
        try:
            live = await asyncio.to_thread(self.source.list_live_ingest)
        except Exception as exc:  # noqa: BLE001 - any failure of the media server: retry next interval
            if self.last_error is None:  # once per outage, not once per retry
                log.warning("reconcile: cannot list live paths from the media server",
                            extra={"error": f"{type(exc).__name__}: {exc}"})
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        valid = {stream_id for stream_id in live if STREAM_ID_RE.fullmatch(stream_id)}
        if valid != live:  # a backend that let one through: it never becomes a record or a worker
            log.warning("reconcile: ignored live paths with invalid stream ids", extra={"count": len(live - valid)})
        try:
            await self.actor.submit(Reconcile(frozenset(valid), observed_at))
        except ActorBusy as exc:
            self.last_error = str(exc)
            return False
        if self.last_error is not None:
            log.info("reconcile: the media server answers again")
        self.last_error = None
        self.completed += 1
        return True

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="orchestrator-reconcile")

    async def wait_first_pass(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._first_pass.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    @property
    def first_pass_done(self) -> bool:
        return self._first_pass.is_set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _loop(self) -> None:
        while True:
            ok = await self.reconcile_once()
            self._first_pass.set()  # attempted: readiness does not wait for a media server that is down
            # a media server that did not answer is tried again soon: once it is back (restarted by
            # `livedub up`, or its container), the workers converge without waiting a whole interval
            await asyncio.sleep(self.interval if ok else min(self.interval, RETRY_AFTER_FAILURE))
