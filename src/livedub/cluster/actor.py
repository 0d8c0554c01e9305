"""What runs on a Ray node for one stream (``ORCH_LAUNCHER=ray``): the worker process of its run.

The orchestrator creates one detached, named actor per stream (:func:`actor_name`); Ray keeps the
name unique across the cluster, so a second create for the same stream finds the first. The actor
holds at most one worker process, started by the same :class:`ProcessLauncher` the orchestrator
uses for child processes (parent-death signal, SIGTERM then SIGKILL, the worker's log re-emitted
with its stream and run ids, the reason it gave for exiting).

* ``run(request)`` starts the worker, or **adopts** the one already running when it was started
  with the same command and environment (an orchestrator restarted and asks again for a stream that
  is still being dubbed: the viewer keeps the output); a different request replaces it.
* ``wait(run_id)`` answers when that run's process has exited, with its code and reason.
* ``stop(run_id)`` ends it (and answers with the exit); ``info()`` is what a new orchestrator reads
  to decide whether to adopt or stop an actor it finds.

This class has no Ray import at module level: it is the actor's body, unit-tested as a plain object;
``livedub.orchestrator.ray_launcher`` wraps it with ``ray.remote``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from livedub.proc.launcher import (
    ProcessHandle,
    ProcessLauncher,
    WorkerExit,
    WorkerSpec,
    default_worker_command,
)

log = logging.getLogger(__name__)

ACTOR_PREFIX = "livedub-worker-"
ORPHANED = "the worker's node left the Ray cluster (its raylet is gone); the worker was stopped there"
PARENT_CHECK_S = 1.0  # how often the actor checks that its node's raylet is still its parent
RUN_ID_ENV = "WORKER_RUN_ID"


def actor_name(stream_id: str) -> str:
    """The cluster-wide name of a stream's actor (stream ids are ``[A-Za-z0-9_-]``: safe in a name)."""
    return ACTOR_PREFIX + stream_id


def stream_of(name: str) -> str | None:
    """The stream id an actor name belongs to; None for an actor that is not a livedub worker."""
    return (name[len(ACTOR_PREFIX):] or None) if name.startswith(ACTOR_PREFIX) else None


@dataclass(frozen=True)
class RunRequest:
    """One run of a stream's worker, as the orchestrator sends it to the actor."""

    stream_id: str
    run_id: str
    env: Mapping[str, str]  # on top of the node's own environment
    command: Sequence[str] = ()  # empty: the node's own ``python -m livedub.cli.main worker``
    stop_timeout: float = 10.0

    def same_worker(self, other: RunRequest) -> bool:
        """Whether ``other`` asks for the worker this request started (its run id aside)."""
        def key(request: RunRequest) -> tuple[object, ...]:
            env = {k: v for k, v in request.env.items() if k != RUN_ID_ENV}
            return request.stream_id, tuple(request.command), tuple(sorted(env.items()))
        return key(self) == key(other)

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "env": dict(self.env), "command": list(self.command)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RunRequest:
        env = data.get("env") or {}
        command = data.get("command") or []
        if not isinstance(env, Mapping) or not isinstance(command, Sequence):
            raise TypeError("env must be a mapping and command a list")
        return cls(str(data["stream_id"]), str(data["run_id"]), {str(k): str(v) for k, v in env.items()},
                   [str(c) for c in command], float(data.get("stop_timeout", 10.0)))  # type: ignore[arg-type]


@dataclass
class _Run:
    request: RunRequest
    launcher: ProcessLauncher
    handle: ProcessHandle
    exited: asyncio.Future[WorkerExit]
    run_ids: set[str] = field(default_factory=set)  # the first run id and every one that adopted it


def _ray_node_id() -> str:
    try:
        import ray

        return str(ray.get_runtime_context().get_node_id())
    except Exception:  # noqa: BLE001 - not inside Ray (unit tests): no node id
        return ""


class StreamWorkerActor:
    """The body of a stream's Ray actor (async: its methods run concurrently on one event loop)."""

    def __init__(self, stream_id: str, node_id: Callable[[], str] = _ray_node_id,
                 parent_pid: Callable[[], int] = os.getppid, end_process: Callable[[int], object] = os._exit,
                 parent_check_s: float = PARENT_CHECK_S) -> None:
        self.stream_id = stream_id
        self._node_id = node_id
        self._parent_pid = parent_pid
        self._end_process = end_process
        self._parent_check_s = parent_check_s
        self._parent = parent_pid()  # the node's raylet
        self._fence: asyncio.Task[None] | None = None
        self._orphaned = False
        self._run: _Run | None = None
        self._lock: asyncio.Lock | None = None  # created on the actor's loop

    async def run(self, request: Mapping[str, object]) -> dict[str, object]:
        wanted = RunRequest.from_dict(request)
        if wanted.stream_id != self.stream_id:
            raise ValueError(f"this actor runs stream {self.stream_id!r}, not {wanted.stream_id!r}")
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            current = self._run
            if current is not None and wanted.run_id in current.run_ids:
                return self._answer(current, adopted=False)  # a retried request for the same run
            if current is not None and not current.exited.done():
                if current.request.same_worker(wanted):
                    current.run_ids.add(wanted.run_id)
                    log.info("worker adopted by a new run", extra={
                        "streamId": self.stream_id, "runId": wanted.run_id,
                        "workerRunId": current.request.run_id, "pid": current.handle.pid})
                    return self._answer(current, adopted=True)
                log.info("replacing the stream's worker (other settings)",
                         extra={"streamId": self.stream_id, "runId": wanted.run_id})
                await self._terminate(current)
            self._run = await self._start(wanted)
            if self._fence is None:
                self._fence = asyncio.create_task(self._stop_when_orphaned(), name="raylet-fence")
            return self._answer(self._run, adopted=False)

    async def wait(self, run_id: str) -> dict[str, object]:
        """The exit of ``run_id`` (``unknown`` when this actor never ran it)."""
        run = self._run
        if run is None or run_id not in run.run_ids:
            return {"exitCode": None, "error": "this actor does not run that run", "unknown": True}
        exit_ = await asyncio.shield(run.exited)
        if self._orphaned:  # stopped here because the node is gone: a failure, whatever its code
            return {"exitCode": None, "error": ORPHANED, "unknown": False}
        return {"exitCode": exit_.exit_code, "error": exit_.error, "unknown": False}

    async def stop(self, run_id: str) -> dict[str, object]:
        run = self._run
        if run is not None and run_id in run.run_ids and not run.exited.done():
            await self._terminate(run)
        return await self.wait(run_id)

    async def info(self) -> dict[str, object]:
        run = self._run
        if run is None:
            return {"streamId": self.stream_id, "runIds": [], "pid": None, "running": False, "node": self._node_id()}
        exit_ = run.exited.result() if run.exited.done() else None
        return {"streamId": self.stream_id, "runIds": sorted(run.run_ids), "workerRunId": run.request.run_id,
                "pid": run.handle.pid, "running": exit_ is None, "node": self._node_id(),
                "exitCode": exit_.exit_code if exit_ else None}

    # -- internals --------------------------------------------------------------------------------
    async def _stop_when_orphaned(self) -> None:
        """End the worker, then this process, once the node's raylet is gone.

        The cluster has then declared this actor dead and the orchestrator starts the stream
        elsewhere; a worker left running here would publish the same output path a second time.
        (Ray's own worker process does not exit when its raylet is killed; the parent changes.)
        """
        while self._parent_pid() == self._parent:
            await asyncio.sleep(self._parent_check_s)  # monitoring interval
        log.error(ORPHANED, extra={"streamId": self.stream_id})
        self._orphaned = True
        run = self._run
        if run is not None and not run.exited.done():
            await self._terminate(run)
        self._end_process(1)

    async def _start(self, request: RunRequest) -> _Run:
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[WorkerExit] = loop.create_future()

        def on_exit(exit_: WorkerExit) -> None:  # from the launcher's waiter thread
            loop.call_soon_threadsafe(lambda: exited.done() or exited.set_result(exit_))

        launcher = ProcessLauncher(list(request.command) or default_worker_command(),
                                   stop_timeout=request.stop_timeout, base_env={**os.environ, **request.env},
                                   env_builder=lambda _spec: {})
        spec = WorkerSpec(request.stream_id, request.run_id, "", "")  # tags the worker's log lines
        handle = await launcher.start(spec, on_exit)
        return _Run(request, launcher, handle, exited, {request.run_id})

    async def _terminate(self, run: _Run) -> None:
        await run.launcher.stop(run.handle)
        await asyncio.shield(run.exited)

    def _answer(self, run: _Run, adopted: bool) -> dict[str, object]:
        return {"pid": run.handle.pid, "adopted": adopted, "workerRunId": run.request.run_id,
                "node": self._node_id(), "exited": run.exited.done()}
