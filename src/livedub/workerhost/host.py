"""The worker host's state: which worker run exists for each stream, and how each one ended.

Process control is :class:`~livedub.proc.launcher.ProcessLauncher`'s (spawn with the
parent-death signal, SIGTERM then SIGKILL, log lines re-emitted); this object only decides and
remembers. It lives on the server's event loop; exits arrive from the launcher's waiter threads
and are applied on the loop.

Rules:
* at most one worker process per stream: a start for a new run of a stream first stops the old
  run (the orchestrator gave up on it, e.g. after its own restart);
* a start for a run that exists (or existed) is answered with that run, never a second process;
* exited runs are remembered (bounded) so that a client polling for an exit always gets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livedub.obs.logging import log_context
from livedub.obs.redact import redact_url
from livedub.proc.launcher import Launcher, ProcessLauncher, WorkerExit, WorkerHandle, WorkerSpec
from livedub.workerhost.api import WorkerState, WorkerView

log = logging.getLogger(__name__)

EXITED_RUNS_KEPT = 1024


class SpecConflict(ValueError):
    """A start request reuses a run id with other addresses or settings."""


class HostClosing(RuntimeError):
    """The host is shutting down and starts no worker."""


@dataclass
class WorkerRecord:
    spec: WorkerSpec
    started_at: float
    state: WorkerState = WorkerState.running
    handle: WorkerHandle | None = None
    exit_code: int | None = None
    error: str | None = None
    exited_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def view(self) -> WorkerView:
        return WorkerView(streamId=self.spec.stream_id, runId=self.spec.run_id, state=self.state,
                          pid=self.handle.pid if self.handle is not None else None, exitCode=self.exit_code,
                          error=self.error, startedAt=self.started_at, exitedAt=self.exited_at)


class WorkerHost:
    def __init__(self, launcher: Launcher, wall_clock: Callable[[], float] = time.time,
                 exited_kept: int = EXITED_RUNS_KEPT) -> None:
        self.launcher = launcher
        self.wall_clock = wall_clock
        self.exited_kept = exited_kept
        self._current: dict[str, WorkerRecord] = {}  # stream id -> its newest run
        self._runs: OrderedDict[str, WorkerRecord] = OrderedDict()  # run id -> record (exited ones bounded)
        self._locks: dict[str, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    # -- queries ----------------------------------------------------------------------------
    def records(self) -> list[WorkerRecord]:
        return [self._current[k] for k in sorted(self._current)]

    def find(self, stream_id: str, run_id: str | None = None) -> WorkerRecord | None:
        """The stream's newest run, or the given run of that stream (also when it has exited)."""
        if run_id is None:
            return self._current.get(stream_id)
        rec = self._runs.get(run_id)
        return rec if rec is not None and rec.spec.stream_id == stream_id else None

    def running(self) -> int:
        return sum(1 for r in self._current.values() if r.state != WorkerState.exited)

    # -- commands -----------------------------------------------------------------------------
    async def start(self, spec: WorkerSpec) -> tuple[WorkerRecord, bool]:
        """Run ``spec``; returns its record and whether a process was started now (False: known run)."""
        self._loop = asyncio.get_running_loop()
        async with self._lock(spec.stream_id):
            known = self._runs.get(spec.run_id)
            if known is not None:
                if known.spec != spec:
                    raise SpecConflict(f"run {spec.run_id} exists with other addresses or settings")
                return known, False
            if self._closing:
                raise HostClosing("the worker host is shutting down")
            with log_context(streamId=spec.stream_id, runId=spec.run_id):
                old = self._current.get(spec.stream_id)
                if old is not None and old.state != WorkerState.exited:
                    log.info("replacing the stream's previous worker run", extra={"oldRunId": old.spec.run_id})
                    await self._stop(old)
                rec = WorkerRecord(spec, started_at=self.wall_clock())
                # registered before the process exists: its exit may be reported at once
                rec.handle = await self.launcher.start(spec, lambda exit_: self._exited_threadsafe(rec, exit_))
                self._current[spec.stream_id] = rec
                self._runs[spec.run_id] = rec
                log.info("worker assigned", extra={"pid": rec.handle.pid, "input": redact_url(spec.input_url),
                                                   "output": redact_url(spec.output_url)})
            self._trim()
            return rec, True

    async def stop(self, stream_id: str, run_id: str | None = None) -> WorkerRecord | None:
        """Stop the stream's run (only if it is ``run_id``, when given); returns once it has exited."""
        async with self._lock(stream_id):
            rec = self.find(stream_id, run_id)
            if rec is not None:
                with log_context(streamId=stream_id, runId=rec.spec.run_id):
                    await self._stop(rec)
            return rec

    async def wait(self, stream_id: str, run_id: str | None, timeout: float) -> WorkerRecord | None:
        """Long poll: the record once it has exited, or as it is after ``timeout`` seconds."""
        rec = self.find(stream_id, run_id)
        if rec is not None and rec.state != WorkerState.exited and timeout > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(rec.done.wait(), timeout)
        return rec

    async def warm_up(self) -> None:
        """Start the standby workers of a process launcher (``WORKER_HOST_WARM_WORKERS``)."""
        if isinstance(self.launcher, ProcessLauncher):
            await self.launcher.warm_up()

    async def close(self) -> None:
        """Stop every worker (the host is exiting); returns once all have exited."""
        self._closing = True
        await asyncio.gather(*(self.stop(stream_id) for stream_id in list(self._current)))
        await self.launcher.close()

    # -- internals ----------------------------------------------------------------------------
    def _lock(self, stream_id: str) -> asyncio.Lock:
        lock = self._locks.get(stream_id)
        if lock is None:
            lock = self._locks[stream_id] = asyncio.Lock()
        return lock

    async def _stop(self, rec: WorkerRecord) -> None:
        if rec.state == WorkerState.exited or rec.handle is None:
            return
        rec.state = WorkerState.stopping
        await self.launcher.stop(rec.handle)
        # the exit is applied on this loop by the launcher's waiter thread, right after the process
        # is reaped; the bound only guards against a launcher that never reports
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(rec.done.wait(), 10)

    def _exited_threadsafe(self, rec: WorkerRecord, exit_: WorkerExit) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # loop closed in between: the host is gone anyway
            loop.call_soon_threadsafe(self._exited, rec, exit_)

    def _exited(self, rec: WorkerRecord, exit_: WorkerExit) -> None:
        if rec.state == WorkerState.exited:
            return
        requested = rec.state == WorkerState.stopping
        rec.state = WorkerState.exited
        rec.exit_code = exit_.exit_code
        rec.error = exit_.error
        rec.exited_at = self.wall_clock()
        rec.done.set()
        fields: dict[str, Any] = {"streamId": rec.spec.stream_id, "runId": rec.spec.run_id,
                                  "exitCode": exit_.exit_code, "requested": requested}
        if exit_.error and not requested:
            log.warning("worker exited", extra={**fields, "error": exit_.error})
        else:
            log.info("worker exited", extra=fields)
        self._trim()

    def _trim(self) -> None:
        """Forget the oldest exited runs beyond the bound (current runs are always kept)."""
        excess = len(self._runs) - self.exited_kept
        for run_id in list(self._runs):
            if excess <= 0:
                break
            rec = self._runs[run_id]
            if rec.state == WorkerState.exited and self._current.get(rec.spec.stream_id) is not rec:
                del self._runs[run_id]
                excess -= 1
