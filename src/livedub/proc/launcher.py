"""Where workers run. The supervisor decides *that* a stream has one worker; a launcher runs it.

This module ships the child-process launcher (embedded ``livedub up``, a single container, and
inside the compose ``stream-worker`` host); ``host_launcher.HostLauncher`` runs workers on that
host over HTTP, and a Kubernetes launcher would implement the same protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

from livedub.config.settings import WorkerSettings
from livedub.config.stream_query import StreamSettings
from livedub.obs.logging import parse_record
from livedub.obs.redact import redact_text
from livedub.proc.child import spawn, terminate
from livedub.proc.standby import Assignment, StandbyState, standby_state

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a launcher needs to run one worker for one stream."""

    stream_id: str
    run_id: str
    input_url: str
    output_url: str
    settings: StreamSettings = field(default_factory=StreamSettings)

    def env(self) -> dict[str, str]:
        """The ``WORKER_*`` variables of this worker (on top of the inherited environment)."""
        prefix = WorkerSettings.env_prefix
        return {
            **self.settings.worker_env(),
            f"{prefix}STREAM_ID": self.stream_id,
            f"{prefix}INPUT_URL": self.input_url,
            f"{prefix}OUTPUT_URL": self.output_url,
            f"{prefix}RUN_ID": self.run_id,  # worker logs and its run bundle carry the orchestrator's run id
        }


@dataclass(frozen=True)
class WorkerExit:
    stream_id: str
    run_id: str
    exit_code: int | None  # None: it never started, or the launcher lost track of it
    error: str | None = None


class WorkerHandle(Protocol):
    stream_id: str
    run_id: str

    @property
    def pid(self) -> int | None: ...

    @property
    def where(self) -> str:
        """Where the worker runs, for operators (``local``, ``host <host:port>``, ``ray node <id>``)."""
        ...


ExitListener = Callable[[WorkerExit], None]


class Launcher(Protocol):
    """Runs workers. Every handle returned by ``start`` reports its exit exactly once.

    ``on_exit`` may be called from any thread; the caller makes it thread-safe. ``stop`` asks
    the worker to end (for a process: SIGTERM, SIGKILL after the stop timeout) and returns when
    it has; the exit is still reported through ``on_exit``.
    """

    async def start(self, spec: WorkerSpec, on_exit: ExitListener) -> WorkerHandle: ...

    async def stop(self, handle: WorkerHandle) -> None: ...

    async def close(self) -> None:
        """Stop every worker still running (the orchestrator is exiting)."""


class LaunchError(RuntimeError):
    """The worker could not be started (bad command, missing binary). Counted as a failure."""


def default_worker_command() -> list[str]:
    return [sys.executable, "-m", "livedub.cli.main", "worker"]


def parse_worker_command(command: str) -> list[str]:
    """``ORCH_WORKER_COMMAND`` (a shell-style string; empty: the default) -> argv."""
    if not command.strip():
        return default_worker_command()
    argv = shlex.split(command)
    if not argv:
        raise ValueError("ORCH_WORKER_COMMAND is empty")
    return argv


class LogSink(Protocol):
    def __call__(self, spec: WorkerSpec, line: str) -> None: ...


def stdout_sink(spec: WorkerSpec, line: str, stream: IO[str] | None = None) -> None:
    """Re-emit one worker output line tagged with its stream id and run id.

    Worker lines are JSON logs already: they pass through with ``streamId``/``runId`` added when
    missing. Anything else (a traceback, a library printing) becomes an orchestrator log line.
    """
    text = line.rstrip("\r\n")
    if not text:
        return
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if isinstance(record, dict):
        for key, value in (("streamId", spec.stream_id), ("runId", spec.run_id)):
            if value:  # a standby's lines have no stream yet
                record.setdefault(key, value)
        out = stream or sys.stdout
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()
        return
    tags = {"streamId": spec.stream_id, "runId": spec.run_id}
    log.info(redact_text(text), extra={**{k: v for k, v in tags.items() if v}, "source": "worker"})


@dataclass
class ProcessHandle:
    stream_id: str
    run_id: str
    process: subprocess.Popen[bytes]
    threads: list[threading.Thread] = field(default_factory=list)
    spec: WorkerSpec | None = None  # None: a standby no stream has been assigned to yet
    on_exit: ExitListener | None = None
    standby: StandbyState | None = None  # a standby's model load, from its log (None: started for its stream)
    metrics_port: int | None = None  # the worker's /metrics port, from its "worker starting" log line

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def where(self) -> str:
        return "local"


STANDBY_ENV = {f"{WorkerSettings.env_prefix}STANDBY": "true"}
_STANDBY_SPEC = WorkerSpec(stream_id="", run_id="", input_url="", output_url="")  # tags a standby's log lines


class ProcessLauncher:
    """Workers as child processes of the orchestrator.

    * ``spawn`` sets the parent-death signal, so no worker outlives a crashed orchestrator; it is
      called on the event loop's thread because that signal follows the thread that forked.
    * Each worker gets its own session: a Ctrl-C in the terminal reaches the orchestrator, which
      then stops workers in order (SIGTERM, then SIGKILL after ``stop_timeout``).
    * stdout and stderr are merged and re-emitted line by line through ``sink``.
    * ``warm`` (``ORCH_WARM_WORKERS``): that many standby workers (``WORKER_STANDBY=true``, see
      ``livedub.proc.standby``) are kept started ahead of need, from :meth:`warm_up` on. A stream
      with the default settings gets one: its identity is written to the standby's stdin and it
      runs with its models already loaded (or loading since long before the publish). A stream
      with its own settings (``?lang=``) gets a new process. A new standby is started when a
      worker ends, not when one is taken: on a small host a standby loading its models would take
      the CPU from the stream that just began.
    """

    def __init__(self, command: Sequence[str] | None = None, stop_timeout: float = 10.0,
                 base_env: Mapping[str, str] | None = None, sink: LogSink | None = None,
                 env_builder: Callable[[WorkerSpec], Mapping[str, str]] = WorkerSpec.env,
                 kind: str = "worker", warm: int = 0) -> None:
        self.command = list(command) if command else default_worker_command()
        self.stop_timeout = stop_timeout
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.sink: LogSink = sink or stdout_sink
        # what a spec becomes in the child's environment: WORKER_* for workers, EGRESS_* for forwarders
        self.env_builder = env_builder
        self.kind = kind  # "worker" or "forwarder", for log lines and errors
        self.warm = warm
        self._handles: dict[str, ProcessHandle] = {}
        self._standbys: list[ProcessHandle] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._lock = threading.Lock()

    async def warm_up(self) -> None:
        """Start the standby workers (``warm``); on the event loop that later calls :meth:`start`."""
        self._loop = asyncio.get_running_loop()
        self._replenish()

    async def start(self, spec: WorkerSpec, on_exit: ExitListener) -> ProcessHandle:
        handle = self._assign_standby(spec, on_exit)
        if handle is None:
            env = {**self.base_env, **self.env_builder(spec)}
            handle = self._spawn(env, subprocess.DEVNULL, spec, on_exit)
        log.info(f"{self.kind} started", extra={"streamId": spec.stream_id, "runId": spec.run_id,
                                                 "pid": handle.process.pid, "warm": handle.process.stdin is not None})
        return handle

    async def stop(self, handle: WorkerHandle) -> None:
        if not isinstance(handle, ProcessHandle):
            raise TypeError("ProcessLauncher can only stop its own handles")
        code = await asyncio.to_thread(terminate, handle.process, self.stop_timeout)
        log.info(f"{self.kind} stopped", extra={"streamId": handle.stream_id, "runId": handle.run_id, "exitCode": code})

    async def close(self) -> None:
        with self._lock:
            self._closing = True
            handles = [*self._handles.values(), *self._standbys]
        await asyncio.gather(*(self.stop(h) for h in handles), return_exceptions=True)

    def running(self) -> list[ProcessHandle]:
        """Running workers (standbys not assigned yet are not counted)."""
        with self._lock:
            return [h for h in self._handles.values() if h.process.poll() is None]

    def standbys(self) -> list[ProcessHandle]:
        """Running standbys no stream has been assigned to yet."""
        with self._lock:
            return [h for h in self._standbys if h.process.poll() is None]

    def standby_counts(self) -> dict[str, int]:
        """How many standbys are loading, ready or failed (``/readyz``; ``livedub up`` waits for the load)."""
        states = [h.standby for h in self.standbys()]
        return {state.value: states.count(state) for state in StandbyState}

    def _spawn(self, env: Mapping[str, str], stdin: int, spec: WorkerSpec | None,
               on_exit: ExitListener | None) -> ProcessHandle:
        try:
            process = spawn(self.command, env=env, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise LaunchError(f"cannot run {self.kind} command {self.command[0]!r}: {exc.strerror or exc}") from None
        handle = ProcessHandle(spec.stream_id if spec else "", spec.run_id if spec else "", process, spec=spec,
                               on_exit=on_exit, standby=None if spec else StandbyState.loading)
        with self._lock:  # registered before its waiter can report it
            if spec is None:
                self._standbys.append(handle)
            else:
                self._handles[spec.run_id] = handle
        name = spec.stream_id if spec else f"standby-{process.pid}"
        reason: list[str] = []  # why the worker said it is ending, from its log (see exit_reason)
        reader = threading.Thread(target=self._pump, args=(handle, reason), daemon=True, name=f"worker-log-{name}")
        waiter = threading.Thread(target=self._wait, args=(handle, reader, reason), daemon=True,
                                  name=f"worker-wait-{name}")
        handle.threads = [reader, waiter]
        reader.start()
        waiter.start()
        return handle

    def _replenish(self) -> None:
        """Start standbys up to ``warm`` (on the event loop's thread, for the parent-death signal)."""
        with self._lock:
            missing = 0 if self._closing else self.warm - sum(h.process.poll() is None for h in self._standbys)
        for _ in range(missing):
            try:
                handle = self._spawn({**self.base_env, **STANDBY_ENV}, subprocess.PIPE, None, None)
            except LaunchError as exc:
                log.warning("cannot start a standby worker", extra={"reason": str(exc)})
                return
            log.info(f"standby {self.kind} started", extra={"pid": handle.process.pid})

    def _assign_standby(self, spec: WorkerSpec, on_exit: ExitListener) -> ProcessHandle | None:
        """A running standby, now serving ``spec``; None when none fits (or none is kept)."""
        if spec.settings.worker_env():
            return None  # its own settings: a standby loaded the defaults
        with self._lock:
            handle = next((h for h in self._standbys if h.process.poll() is None), None)
            if handle is None:
                return None
            self._standbys.remove(handle)
            handle.spec, handle.on_exit = spec, on_exit
            handle.stream_id, handle.run_id = spec.stream_id, spec.run_id
            self._handles[spec.run_id] = handle
        assert handle.process.stdin is not None
        try:
            handle.process.stdin.write(Assignment(spec.stream_id, spec.input_url, spec.output_url,
                                                  spec.run_id).to_line())
            handle.process.stdin.close()
        except OSError:
            # it ended just now; its waiter reports that exit for this spec (the supervisor restarts it)
            log.warning("a standby worker ended as it was assigned", extra={"streamId": spec.stream_id})
        return handle

    def _pump(self, handle: ProcessHandle, reason: list[str]) -> None:
        process = handle.process
        assert process.stdout is not None
        with process.stdout:
            for raw in iter(lambda: process.stdout.readline(MAX_LINE_BYTES), b""):  # type: ignore[union-attr]
                line = raw.decode("utf-8", "replace")
                said = exit_reason(line)
                if said:
                    reason[:] = [said]
                if handle.metrics_port is None:
                    handle.metrics_port = metrics_port(line)
                state = standby_state(line) if handle.standby is StandbyState.loading else None
                if state is not None:
                    handle.standby = state
                spec = handle.spec or _STANDBY_SPEC
                try:
                    self.sink(spec, line)
                except Exception:
                    log.exception("could not re-emit a worker log line", extra={"streamId": spec.stream_id})

    def _wait(self, handle: ProcessHandle, reader: threading.Thread, reason: list[str]) -> None:
        code = handle.process.wait()
        reader.join(5)  # its last lines (the reason it gave) are read before the exit is reported
        with self._lock:
            if handle in self._standbys:
                self._standbys.remove(handle)
            spec, on_exit = handle.spec, handle.on_exit
            if spec is not None:
                self._handles.pop(spec.run_id, None)
        if spec is None or on_exit is None:
            if not self._closing:  # not replaced here: a standby that cannot start would be restarted forever
                log.warning(f"a standby {self.kind} ended before a stream needed it",
                            extra={"exitCode": code, "reason": reason[0] if reason else _describe_exit(code, self.kind)})
            return
        error = None
        if code != 0:
            # the worker's own words ("input audio is MP3; the worker needs AAC") say more than its code
            error = reason[0] if reason else _describe_exit(code, self.kind)
        on_exit(WorkerExit(spec.stream_id, spec.run_id, code, error))
        if self.warm and self._loop is not None and not self._closing:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the launcher is going away
                self._loop.call_soon_threadsafe(self._replenish)


MAX_REASON_CHARS = 300


def metrics_port(line: str) -> int | None:
    """The port in a worker's log line that announces its metrics endpoint (``metricsPort``)."""
    record = parse_record(line, "metricsPort")
    port = record.get("metricsPort") if record is not None else None
    return port if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536 else None


def exit_reason(line: str) -> str | None:
    """The reason in a worker's "ending"/"failing" log line (a JSON record with ``exitCode`` and
    ``reason``), redacted and cut; None for any other line."""
    record = parse_record(line, "reason")
    if record is None or "exitCode" not in record or not isinstance(record["reason"], str):
        return None
    reason = redact_text(record["reason"]).strip()
    return reason[:MAX_REASON_CHARS] or None


def without_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` minus every secret setting (``EGRESS_URL``): workers never need a stream key."""
    from livedub.config.loader import known_env_vars

    secrets = {doc.name for doc in known_env_vars() if doc.secret}
    return {name: value for name, value in env.items() if name not in secrets}


def _describe_exit(code: int, kind: str = "worker") -> str:
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"{kind} killed by {name}"
    return f"{kind} exited with code {code}"
