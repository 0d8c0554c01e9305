"""The actor: one asyncio task that owns the :class:`Supervisor` and carries out its effects.

HTTP handlers, the reconciler and launcher callbacks never touch stream state: they post
commands here. External commands (hook events) go through a bounded queue (full: 503); internal
ones (a worker started or exited) are never dropped. Launcher calls run as tasks chained per
worker run, so a stop always follows its own start and the actor itself never blocks.

With a ``store``, the actor also owns what is remembered across orchestrator restarts (each
stream's settings and publisher, ``known_streams.py``): it hands a snapshot to the store whenever
that changes, and reconciliation starts live streams it has no record of with the remembered
settings (``restored``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from livedub.config.stream_query import StreamSettings
from livedub.obs.logging import log_context
from livedub.orchestrator.known_streams import StreamMemory, StreamStore
from livedub.orchestrator.state import WITH_PROCESS, KnownStream
from livedub.orchestrator.supervisor import Admission, Decision, Effect, StartWorker, StopWorker, Supervisor
from livedub.proc.launcher import Launcher, WorkerExit, WorkerHandle, WorkerSpec

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class HookEvent:
    kind: str  # "ready" or "not-ready"
    stream_id: str
    settings: StreamSettings
    source_id: str = ""
    source_type: str = ""
    correlation_id: str = ""


@dataclass(frozen=True)
class Reconcile:
    live_ids: frozenset[str]
    observed_at: float


@dataclass(frozen=True)
class Tick:
    pass


@dataclass(frozen=True)
class OperatorCommand:
    """Stop or restart a stream's worker (the console, ``POST /v1/streams/{id}/stop|restart``)."""

    kind: str  # "stop" or "restart"
    stream_id: str


@dataclass(frozen=True)
class _Started:
    stream_id: str
    run_id: str
    pid: int | None
    where: str | None = None


Command = HookEvent | Reconcile | Tick | OperatorCommand


class ActorBusy(RuntimeError):
    """The command queue is full or the actor is shutting down (answer 503, retry later)."""


class UrlBuilder(Protocol):
    """The media server's addresses for a stream's worker (``MediaServer`` fits this)."""

    def worker_input_url(self, stream_id: str) -> str: ...

    def worker_output_url(self, stream_id: str) -> str: ...


class SupervisorActor:
    def __init__(self, supervisor: Supervisor, launcher: Launcher, urls: UrlBuilder,
                 clock: Clock = time.monotonic, queue_size: int = 1024, restored: Iterable[KnownStream] = (),
                 store: StreamStore | None = None) -> None:
        self.supervisor = supervisor
        self.launcher = launcher
        self.urls = urls
        self.clock = clock
        self.queue_size = queue_size
        self._external: deque[tuple[Command, asyncio.Future[object]]] = deque()
        self._internal: deque[_Started | WorkerExit] = deque()
        self._wakeup = asyncio.Event()
        self._handles: dict[str, WorkerHandle] = {}
        self._exited_runs: deque[str] = deque(maxlen=4096)
        self._run_tasks: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._memory = StreamMemory(restored)
        self._store = store

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="orchestrator-supervisor")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    async def close(self, timeout: float = 30.0) -> None:
        """Refuse new events, stop every worker, wait for their exits, end the task."""
        if self._task is None:
            return
        self._closing = True
        while self._external:
            _command, future = self._external.popleft()
            if not future.done():
                future.set_exception(ActorBusy("orchestrator is shutting down"))
        self._execute(self.supervisor.stop_all(self.clock()))
        # the loop keeps running and applies the exits the launcher reports; real time on purpose
        deadline = time.monotonic() + timeout
        while self.processes() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.processes():
            log.error("workers did not report their exit in time", extra={"streams": self.processes()})
        await self.launcher.close()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        self._remember()
        if self._store is not None:
            await self._store.flush()

    def processes(self) -> list[str]:
        """Streams whose worker process may still exist."""
        return [r.stream_id for r in self.supervisor.records() if r.state in WITH_PROCESS]

    # -- commands -----------------------------------------------------------------------------
    async def submit(self, command: Command) -> object:
        """Queue a command and wait until the supervisor has applied it (not for its effects)."""
        if not self.running:
            raise ActorBusy("orchestrator is not running")
        if len(self._external) >= self.queue_size:
            raise ActorBusy(f"event queue full ({self.queue_size} waiting)")
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._external.append((command, future))
        self._wakeup.set()
        return await future

    def notify_exit(self, exit_: WorkerExit) -> None:
        """Launcher callback; safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._post_internal, exit_)
        except RuntimeError:  # loop closed in between: the orchestrator is gone anyway
            pass

    def _post_internal(self, item: _Started | WorkerExit) -> None:
        self._internal.append(item)
        self._wakeup.set()

    # -- the loop -------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            self._drain_internal()
            while self._external:
                command, future = self._external.popleft()
                try:
                    result = self._apply(command)
                except Exception as exc:
                    log.exception("supervisor failed to apply a command")
                    if not future.done():
                        future.set_exception(exc)
                    continue
                if not future.done():
                    future.set_result(result)
                self._drain_internal()
            try:
                self._execute(self.supervisor.tick(self.clock()))
            except Exception:
                log.exception("supervisor tick failed")
            if self._internal or self._external:
                continue
            self._remember()
            deadline = self.supervisor.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    def _drain_internal(self) -> None:
        while self._internal:
            item = self._internal.popleft()
            try:
                self._handle_internal(item)
            except Exception:
                # one bad notification must not end the actor (and with it every stream's supervision)
                log.exception("supervisor failed to handle a worker notification", extra={"streamId": item.stream_id})

    def _handle_internal(self, item: _Started | WorkerExit) -> None:
        now = self.clock()
        if isinstance(item, _Started):
            self.supervisor.worker_started(item.stream_id, item.run_id, item.pid, now, where=item.where)
            return
        self._handles.pop(item.run_id, None)
        self._exited_runs.append(item.run_id)
        with log_context(streamId=item.stream_id, runId=item.run_id):
            self._execute(self.supervisor.worker_exited(item.stream_id, item.run_id, item.exit_code, now, item.error))

    def _apply(self, command: Command) -> object:
        now = self.clock()
        if isinstance(command, HookEvent):
            with log_context(streamId=command.stream_id, correlationId=command.correlation_id):
                if command.kind == "ready":
                    decision = self.supervisor.ready(command.stream_id, command.settings, now, command.source_id,
                                                     command.source_type, command.correlation_id)
                else:
                    decision = self.supervisor.not_ready(command.stream_id, now, command.source_id,
                                                         command.correlation_id)
                log.info("hook event", extra={"event": command.kind, "result": decision.admission.value,
                                              "detail": decision.detail, "sourceId": command.source_id})
                self._execute(decision.effects)
                return decision
        if isinstance(command, Reconcile):
            effects = self.supervisor.reconcile(command.live_ids, command.observed_at, now, self._memory.restored())
            self._memory.reconciled(command.live_ids)
            self._execute(effects)
            return Decision(Admission.accepted, effects)
        if isinstance(command, Tick):
            return Decision(Admission.accepted)
        if isinstance(command, OperatorCommand):
            with log_context(streamId=command.stream_id, correlationId="operator"):
                act = self.supervisor.operator_stop if command.kind == "stop" else self.supervisor.operator_restart
                decision = act(command.stream_id, now)
                if decision is not None:
                    self._execute(decision.effects)
                return decision
        raise TypeError(f"unknown command {command!r}")

    def _remember(self) -> None:
        """Hand the store what is remembered across restarts, when it changed (no I/O here)."""
        if self._store is None:
            return
        try:
            snapshot = self._memory.snapshot(self.supervisor.records())
            if snapshot is not None:
                self._store.submit(snapshot)
        except Exception:
            # losing the remembered settings must not end the actor (and every stream's supervision)
            log.exception("cannot take a snapshot of the stream settings")

    # -- effects ---------------------------------------------------------------------------------
    def _execute(self, effects: Iterable[Effect]) -> None:
        for effect in effects:
            previous = self._run_tasks.get(effect.run_id)
            if isinstance(effect, StartWorker):
                task = asyncio.create_task(self._start_worker(effect), name=f"start-{effect.stream_id}")
            else:
                task = asyncio.create_task(self._stop_worker(effect, previous), name=f"stop-{effect.stream_id}")
            self._run_tasks[effect.run_id] = task
            task.add_done_callback(lambda t, run_id=effect.run_id: self._task_done(run_id, t))

    def _task_done(self, run_id: str, task: asyncio.Task[None]) -> None:
        if self._run_tasks.get(run_id) is task:
            del self._run_tasks[run_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("launcher task failed", exc_info=task.exception())

    async def _start_worker(self, effect: StartWorker) -> None:
        spec = WorkerSpec(effect.stream_id, effect.run_id, self.urls.worker_input_url(effect.stream_id),
                          self.urls.worker_output_url(effect.stream_id), effect.settings)
        with log_context(streamId=effect.stream_id, runId=effect.run_id, correlationId=effect.correlation_id):
            try:
                handle = await self.launcher.start(spec, self.notify_exit)
            except Exception as exc:  # noqa: BLE001 - reported as a failed run, restarted with backoff
                log.error("worker failed to start", extra={"error": str(exc)})
                self._post_internal(WorkerExit(effect.stream_id, effect.run_id, None, f"start failed: {exc}"))
                return
            if effect.run_id not in self._exited_runs:  # a fast exit may already be reported
                self._handles[effect.run_id] = handle
            self._post_internal(_Started(effect.stream_id, effect.run_id, handle.pid, handle.where))

    async def _stop_worker(self, effect: StopWorker, start_task: asyncio.Task[None] | None) -> None:
        if start_task is not None:
            await asyncio.wait([start_task])
        handle = self._handles.get(effect.run_id)
        if handle is None:
            return  # it never started or has already exited; its exit is (or was) reported
        with log_context(streamId=effect.stream_id, runId=effect.run_id, correlationId=effect.correlation_id):
            log.info("stopping worker", extra={"reason": effect.reason})
            await self.launcher.stop(handle)
