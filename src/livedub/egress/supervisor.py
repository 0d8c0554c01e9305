"""Egress on the orchestrator's side: one ``livedub forward`` process per stream that has a worker.

:class:`EgressLauncher` wraps the worker launcher (process or host), so the supervisor and actor
stay unaware of egress: a forwarder starts right after its stream's worker run and stops with it
(before it, on a requested stop; right after it, when the worker exits on its own). Forwarders
run as children of the orchestrator (its image carries GStreamer for this), wherever workers run.

A forwarder's failures never touch the worker: its exits are handled here, by restarting it with
exponential backoff and jitter (``EGRESS_RETRY_INITIAL``/``EGRESS_RETRY_MAX``), and are never
reported to the actor. (``livedub forward`` retries the destination by itself; a process exit
means something worse: a crash or a setting it refused.)

Every line a forwarder prints is re-emitted through :class:`ScrubbingSink`: the forwarder scrubs
its own log records, but not what bypasses logging (a Python traceback, a GLib critical on
stderr), and URL redaction alone misses a key quoted outside a URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import shlex
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from livedub.config.settings import EgressSettings
from livedub.egress.destination import Scrubber, destination_scrubber
from livedub.proc.backoff import RestartPolicy
from livedub.proc.launcher import (
    ExitListener,
    Launcher,
    LaunchError,
    LogSink,
    ProcessHandle,
    ProcessLauncher,
    WorkerExit,
    WorkerHandle,
    WorkerSpec,
    stdout_sink,
)

log = logging.getLogger(__name__)

HEALTHY_AFTER = 60.0  # a forwarder process that lived this long restarts from the initial delay
ENDED_RUNS_KEPT = 256


def parse_forward_command(command: str) -> list[str]:
    """``EGRESS_FORWARD_COMMAND`` (shell-style; empty: this Python's ``livedub forward``) -> argv."""
    argv = shlex.split(command) if command.strip() else []
    return argv or [sys.executable, "-m", "livedub.cli.main", "forward"]


def forwarder_env(spec: WorkerSpec) -> dict[str, str]:
    """The ``EGRESS_*`` variables of one forwarder (the destination comes from the inherited env)."""
    prefix = EgressSettings.env_prefix
    return {f"{prefix}STREAM_ID": spec.stream_id, f"{prefix}SOURCE_URL": spec.input_url}


@dataclass(eq=False)
class _Forwarder:
    stream_id: str
    run_id: str  # the worker run it belongs to
    source_url: str
    handle: ProcessHandle | None = None
    started_at: float = 0.0
    failures: int = 0  # consecutive exits nobody asked for
    stopping: bool = False
    restart: asyncio.TimerHandle | None = None


class ForwarderSupervisor:
    """Keeps one forwarder process per wanted stream; lives on the orchestrator's event loop."""

    def __init__(self, launcher: ProcessLauncher, retry: RestartPolicy, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.launcher = launcher
        self.retry = retry
        self.rng = rng or random.Random()
        self.clock = clock
        self._forwarders: dict[str, _Forwarder] = {}  # stream id -> forwarder
        self._ended: deque[str] = deque(maxlen=ENDED_RUNS_KEPT)  # worker runs that ended before their forwarder
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def active(self) -> int:
        """Forwarder processes alive now (the ``orchestrator_active_forwarders`` gauge)."""
        return len(self.launcher.running())

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop exits are applied on (set before a worker can exit)."""
        self._loop = loop

    async def start(self, stream_id: str, run_id: str, source_url: str) -> None:
        self._loop = asyncio.get_running_loop()
        if run_id in self._ended:
            return  # its worker is gone already
        old = self._forwarders.get(stream_id)
        fwd = _Forwarder(stream_id, run_id, source_url)
        self._forwarders[stream_id] = fwd  # registered first: a stop arriving meanwhile finds it
        if old is not None:
            await self._stop(old)
        await self._spawn(fwd)

    async def stop(self, stream_id: str, run_id: str) -> None:
        fwd = self._forwarders.get(stream_id)
        if fwd is None or fwd.run_id != run_id:
            self._ended.append(run_id)
            return
        await self._stop(fwd)

    def stop_soon(self, stream_id: str, run_id: str) -> None:
        """Stop the forwarder of a worker run that has ended; safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # loop closed in between: the orchestrator is gone
            loop.call_soon_threadsafe(lambda: self._track(loop.create_task(self.stop(stream_id, run_id))))

    async def close(self) -> None:
        await asyncio.gather(*(self._stop(f) for f in list(self._forwarders.values())), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.launcher.close()

    # -- internals -----------------------------------------------------------------------------
    async def _stop(self, fwd: _Forwarder) -> None:
        fwd.stopping = True
        if fwd.restart is not None:
            fwd.restart.cancel()
        if self._forwarders.get(fwd.stream_id) is fwd:
            del self._forwarders[fwd.stream_id]
        if fwd.handle is not None:
            await self.launcher.stop(fwd.handle)

    async def _spawn(self, fwd: _Forwarder) -> None:
        fwd.restart = None
        if fwd.stopping:
            return
        spec = WorkerSpec(fwd.stream_id, fwd.run_id, fwd.source_url, "")
        try:
            fwd.handle = await self.launcher.start(spec, lambda exit_: self._exited_threadsafe(fwd, exit_))
        except LaunchError as exc:
            log.error("forwarder failed to start", extra={"streamId": fwd.stream_id, "error": str(exc)})
            self._schedule_restart(fwd)
            return
        fwd.started_at = self.clock()

    def _exited_threadsafe(self, fwd: _Forwarder, exit_: WorkerExit) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._exited, fwd, exit_)

    def _exited(self, fwd: _Forwarder, exit_: WorkerExit) -> None:
        fwd.handle = None
        if fwd.stopping:
            return
        if self.clock() - fwd.started_at >= HEALTHY_AFTER:
            fwd.failures = 0
        log.warning("forwarder exited; restarting it (the worker is not affected)",
                    extra={"streamId": fwd.stream_id, "runId": fwd.run_id, "exitCode": exit_.exit_code,
                           "error": exit_.error})
        self._schedule_restart(fwd)

    def _schedule_restart(self, fwd: _Forwarder) -> None:
        assert self._loop is not None
        fwd.failures += 1
        delay = self.retry.delay(fwd.failures, self.rng)
        log.info("forwarder restart scheduled", extra={"streamId": fwd.stream_id, "delaySeconds": round(delay, 3)})
        loop = self._loop
        fwd.restart = loop.call_later(delay, lambda: self._track(loop.create_task(self._spawn(fwd))))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)  # keep a reference until done (the loop holds only weak ones)
        task.add_done_callback(self._tasks.discard)


class EgressLauncher:
    """A worker launcher that adds a forwarder per worker run (``EGRESS_ENABLED=true``)."""

    def __init__(self, workers: Launcher, forwarders: ForwarderSupervisor,
                 source_url: Callable[[str], str]) -> None:
        self.workers = workers
        self.forwarders = forwarders
        self.source_url = source_url

    async def start(self, spec: WorkerSpec, on_exit: ExitListener) -> WorkerHandle:
        def worker_exited(exit_: WorkerExit) -> None:
            self.forwarders.stop_soon(spec.stream_id, spec.run_id)
            on_exit(exit_)

        self.forwarders.attach(asyncio.get_running_loop())
        handle = await self.workers.start(spec, worker_exited)
        try:
            await self.forwarders.start(spec.stream_id, spec.run_id, self.source_url(spec.stream_id))
        except Exception as exc:  # noqa: BLE001 - egress never fails a worker start
            log.error("could not start the forwarder", extra={"streamId": spec.stream_id, "error": str(exc)})
        return handle

    async def stop(self, handle: WorkerHandle) -> None:
        await self.forwarders.stop(handle.stream_id, handle.run_id)
        await self.workers.stop(handle)

    async def close(self) -> None:
        await self.forwarders.close()
        await self.workers.close()


class ScrubbingSink:
    """Forwarder output -> the orchestrator's output (``stdout_sink``), with the destination's key,
    credentials and URL removed from every line first: from free text, and from every string of a JSON
    log line (where the key may be escaped). Called from the launcher's reader threads."""

    def __init__(self, destination_url: str, inner: LogSink = stdout_sink) -> None:
        self._url = destination_url
        self._inner = inner

    def __call__(self, spec: WorkerSpec, line: str) -> None:
        self._inner(spec, scrub_line(line, _stream_scrubber(self._url, spec.stream_id)))


@functools.lru_cache(maxsize=256)  # thread-safe; one entry per stream id ({streamId} in the URL)
def _stream_scrubber(url: str, stream_id: str) -> Scrubber:
    return destination_scrubber(url, stream_id)


def scrub_line(line: str, scrub: Scrubber) -> str:
    text = line.rstrip("\r\n")
    try:
        record = json.loads(text)
    except ValueError:
        return scrub(text)
    if not isinstance(record, dict):
        return scrub(text)
    return json.dumps(_scrub_json(record, scrub), ensure_ascii=False)


def _scrub_json(value: Any, scrub: Scrubber) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrub_json(item, scrub) for item in value]
    if isinstance(value, dict):
        return {scrub(str(key)): _scrub_json(item, scrub) for key, item in value.items()}
    return value


def forwarder_supervisor(settings: EgressSettings, command: list[str], stop_timeout: float,
                         base_env: Mapping[str, str], rng: random.Random | None = None) -> ForwarderSupervisor:
    env = dict(base_env)
    env.pop("ORCH_HOOK_TOKEN", None)  # the forwarder's only secret is its destination
    if settings.url is not None:  # the destination as configured here (flags, tests), not only as inherited
        env[f"{EgressSettings.env_prefix}URL"] = settings.url.get_secret_value()
    launcher = ProcessLauncher(command, stop_timeout=stop_timeout, base_env=env, env_builder=forwarder_env,
                               kind="forwarder", sink=ScrubbingSink(env.get(f"{EgressSettings.env_prefix}URL", "")))
    retry = RestartPolicy(initial=settings.retry_initial, maximum=settings.retry_max)
    return ForwarderSupervisor(launcher, retry, rng)
