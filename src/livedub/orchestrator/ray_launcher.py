"""Workers on a Ray cluster (``ORCH_LAUNCHER=ray``): the Launcher protocol over Ray actors.

    start(spec)  -> the stream's detached named actor (created, or found: the name is unique across
                    the cluster), then ``actor.run``: it starts the worker, or adopts the one it runs
    stop(handle) -> ``actor.stop(run)``: SIGTERM, SIGKILL after the stop timeout, on the actor's node
    exit         <- ``actor.wait(run)``, awaited per handle; a dead actor (its node was lost) is an
                    exit with no code, and the supervisor's backoff decides the restart

Ray places each actor by the resources it asks for (``ORCH_RAY_NUM_CPUS``, ``ORCH_RAY_NUM_GPUS``,
``ORCH_RAY_RESOURCES``), spread over the nodes that fit (``ORCH_RAY_SPREAD``). Actors are created
with ``max_restarts=0``: Ray never restarts a worker behind the supervisor's back. Once a run has
ended, its actor is killed (its resources go back to the cluster) before the exit is reported.

An orchestrator that restarts finds the actors of its predecessor: the streams that are still
published get a start from reconciliation, which the actor answers by adopting its running worker
(no gap for the viewer); :meth:`RayLauncher.start_sweep` stops and removes the others. A clean
orchestrator shutdown stops its workers, like the other launchers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from livedub.cluster.actor import RunRequest, StreamWorkerActor, actor_name, stream_of
from livedub.obs.redact import redact_url
from livedub.orchestrator.remote_runs import RemoteRuns
from livedub.proc.launcher import ExitListener, LaunchError, WorkerHandle, WorkerSpec

log = logging.getLogger(__name__)

CLUSTER_VIEW_TIMEOUT = 3.0  # seconds /readyz waits for the cluster's answer
CLUSTER_VIEW_TTL = 2.0  # seconds a cluster view is reused
NODE_ID_SHOWN = 12  # hex digits of a Ray node id an operator sees (as `ray list nodes` tells them apart)

PLACEMENT_TIMEOUT = 60.0  # a worker that no node can take in this long fails to start (backoff, retry)
LOST_AFTER = 60.0  # an actor unreachable this long (its node is gone) is reported as exited
RETRY_PAUSE = 0.5  # between attempts on an actor that is going away (pacing, not synchronisation)


class RayUnavailable(LaunchError):
    """Ray is not installed, or its cluster cannot be reached."""


class LiveSource(Protocol):
    def list_live_ingest(self) -> set[str]: ...


@dataclass(eq=False)
class RayHandle:
    stream_id: str
    run_id: str
    pid: int | None
    node: str
    actor: Any = field(repr=False)
    on_exit: ExitListener = field(repr=False)
    adopted: bool = False
    reported: bool = False
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        return f"ray node {self.node[:NODE_ID_SHOWN]}" if self.node else "ray"


@dataclass(frozen=True)
class RayPlacement:
    """What each worker actor asks the cluster for."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    resources: Mapping[str, float] = field(default_factory=dict)
    spread: bool = True

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus,
                                   "resources": dict(self.resources)}
        if self.spread:
            options["scheduling_strategy"] = "SPREAD"
        return options


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayUnavailable("ORCH_LAUNCHER=ray needs Ray: install the cluster extra "
                             "(scripts/install.sh --cluster, or pip install 'livedub[cluster]')") from None
    return ray


class RayLauncher(RemoteRuns[RayHandle]):
    def __init__(self, address: str, *, namespace: str = "livedub", command: Sequence[str] = (),
                 base_env: Mapping[str, str] | None = None, stop_timeout: float = 10.0,
                 placement: RayPlacement | None = None, placement_timeout: float = PLACEMENT_TIMEOUT,
                 lost_after: float = LOST_AFTER, ray_module: Callable[[], Any] = _import_ray) -> None:
        super().__init__()
        self.address = address
        self.namespace = namespace
        self.command = list(command)  # empty: each node's own `python -m livedub.cli.main worker`
        self.base_env = dict(base_env or {})
        self.stop_timeout = stop_timeout
        self.placement = placement or RayPlacement()
        self.placement_timeout = placement_timeout
        self.lost_after = lost_after
        self._ray_module = ray_module
        self._ray: Any = None
        self._remote_class: Any = None
        self._connect_lock = asyncio.Lock()
        self._starting: set[str] = set()  # stream ids whose start is on its way
        self._cluster_view: tuple[float, dict[str, object]] | None = None  # (when, what) for /readyz

    # -- connection -----------------------------------------------------------------------------
    async def connect(self) -> Any:
        """Join the cluster as a driver (once); raises :class:`RayUnavailable`."""
        async with self._connect_lock:
            if self._ray is None:
                ray = self._ray_module()
                await asyncio.to_thread(self._init, ray)
                self._remote_class = ray.remote(StreamWorkerActor)
                self._ray = ray
            return self._ray

    def _init(self, ray: Any) -> None:
        if ray.is_initialized():
            return
        try:
            # worker output stays in each node's Ray log directory: the orchestrator's own log
            # remains one JSON object per line (docs/scaling.md, "Logs")
            ray.init(address=self.address or "auto", namespace=self.namespace, log_to_driver=False,
                     logging_level=logging.WARNING, configure_logging=False)
        except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ...: all mean "no cluster"
            raise RayUnavailable(f"cannot join the Ray cluster at {redact_url(self.address or 'auto')}: "
                                 f"{type(exc).__name__}: {str(exc)[:300]}") from None
        log.info("joined the Ray cluster", extra={"address": redact_url(self.address or "auto"),
                                                  "namespace": self.namespace})

    async def cluster_view(self, timeout: float = CLUSTER_VIEW_TIMEOUT) -> dict[str, object]:
        """What ``/readyz`` reports of the cluster: ``{"address", "nodesAlive"}``, or ``{"address",
        "error"}`` when it cannot be joined or asked within ``timeout``. Cached for CLUSTER_VIEW_TTL s
        (probes come every few seconds; ``ray.nodes()`` asks the head's GCS)."""
        now = time.monotonic()
        if self._cluster_view is not None and now - self._cluster_view[0] < CLUSTER_VIEW_TTL:
            return self._cluster_view[1]
        view: dict[str, object] = {"address": redact_url(self.address or "auto")}
        try:
            ray = await asyncio.wait_for(self.connect(), timeout)
            nodes = await asyncio.wait_for(asyncio.to_thread(ray.nodes), timeout)
            view["nodesAlive"] = sum(1 for node in nodes if node.get("Alive"))
        except TimeoutError:
            view["error"] = f"no answer from the cluster within {timeout:g}s"
        except Exception as exc:  # noqa: BLE001 - the GCS may fail in any way while the head restarts
            view["error"] = _first_line(exc)
        self._cluster_view = (now, view)
        return view

    # -- the Launcher protocol ------------------------------------------------------------------
    async def start(self, spec: WorkerSpec, on_exit: ExitListener) -> RayHandle:
        ray = await self.connect()
        request = RunRequest(spec.stream_id, spec.run_id, {**self.base_env, **spec.env()}, self.command,
                             self.stop_timeout)
        self._starting.add(spec.stream_id)
        try:
            actor, reply = await self._run(ray, request)
        finally:
            self._starting.discard(spec.stream_id)
        handle = RayHandle(spec.stream_id, spec.run_id, _int_or_none(reply.get("pid")), str(reply.get("node", "")),
                           actor, on_exit, adopted=bool(reply.get("adopted")))
        self._handles[spec.run_id] = handle
        log.info("worker adopted on the Ray cluster" if handle.adopted else "worker started on the Ray cluster",
                 extra={"streamId": spec.stream_id, "runId": spec.run_id, "pid": handle.pid, "node": handle.node,
                        "workerRunId": reply.get("workerRunId")})
        handle.watcher = asyncio.create_task(self._watch(handle), name=f"watch-{spec.stream_id}")
        return handle

    async def _run(self, ray: Any, request: RunRequest) -> tuple[Any, dict[str, Any]]:
        """The stream's actor and its answer to ``run``; an actor still going away is replaced."""
        deadline = time.monotonic() + self.placement_timeout
        while True:
            actor = await asyncio.to_thread(self._actor, request.stream_id)
            try:
                reply = await asyncio.wait_for(_awaitable(actor.run.remote(request.to_dict())),
                                               max(0.1, deadline - time.monotonic()))
                return actor, dict(reply)
            except asyncio.TimeoutError:
                await asyncio.to_thread(self._kill, actor)
                raise LaunchError(f"no Ray node took the worker within {self.placement_timeout:g}s (none has free "
                                  f"{_describe(self.placement)}?)") from None
            except ray.exceptions.RayActorError as exc:
                # the actor of an earlier run, killed or lost with its node, still held the name
                if time.monotonic() >= deadline:
                    raise LaunchError(f"the stream's Ray actor keeps dying: {_first_line(exc)}") from None
                await asyncio.sleep(RETRY_PAUSE)

    def _actor(self, stream_id: str) -> Any:
        """The stream's actor: the existing one, or a new one placed by its resources (blocking)."""
        return self._remote_class.options(
            name=actor_name(stream_id), namespace=self.namespace, lifetime="detached", get_if_exists=True,
            max_restarts=0, max_task_retries=0, **self.placement.options()).remote(stream_id)

    async def stop(self, handle: WorkerHandle) -> None:
        if not isinstance(handle, RayHandle):
            raise TypeError("RayLauncher can only stop its own handles")
        if handle.reported:
            return
        ray = await self.connect()
        try:
            reply = await asyncio.wait_for(_awaitable(handle.actor.stop.remote(handle.run_id)), self.stop_timeout + 15)
        except (asyncio.TimeoutError, ray.exceptions.RayActorError) as exc:
            # not fatal: the watcher reports the run once the actor is known dead or stays unreachable
            log.error("cannot stop the worker on the Ray cluster", extra={
                "streamId": handle.stream_id, "runId": handle.run_id, "error": _first_line(exc) or "timeout"})
            return
        await self._finish(handle, reply)

    async def close(self) -> None:
        """Stop the workers still running and end the watchers (the orchestrator is exiting)."""
        await self._stop_all(self.stop)
        if self._ray is not None:
            await asyncio.to_thread(self._ray.shutdown)
            self._ray = None

    def running(self) -> list[RayHandle]:
        return list(self._handles.values())

    # -- actors of an earlier orchestrator -------------------------------------------------------
    def start_sweep(self, live: LiveSource) -> asyncio.Task[None]:
        """In the background: stop and remove the actors no live stream needs.

        An actor whose worker has ended, or whose stream is not published any more, is left over by
        an earlier orchestrator: it is stopped and killed. Actors of live streams are left for
        reconciliation, whose start adopts their worker; actors of this orchestrator's runs (a
        handle, or a start on its way) are never touched.
        """
        self._sweep = asyncio.create_task(self._sweep_leftovers(live), name="ray-actor-sweep")
        return self._sweep

    async def _sweep_leftovers(self, live: LiveSource) -> None:
        try:
            ray = await self.connect()
            names = await asyncio.to_thread(ray.util.list_named_actors)
            published = await asyncio.to_thread(live.list_live_ingest)
        except Exception as exc:  # noqa: BLE001 - the sweep is best effort; reconciliation still runs
            log.warning("Ray: cannot list worker actors to remove leftovers", extra={"error": _first_line(exc)})
            return
        ours = {h.stream_id for h in self._handles.values()} | self._starting
        for name in names:
            stream_id = stream_of(name)
            if stream_id is None or stream_id in ours:
                continue
            try:
                actor = await asyncio.to_thread(ray.get_actor, name, self.namespace)
                info = await asyncio.wait_for(_awaitable(actor.info.remote()), 30)
            except Exception as exc:  # noqa: BLE001 - gone in between, or its node is lost
                log.info("Ray: a leftover actor did not answer", extra={"streamId": stream_id,
                                                                       "error": _first_line(exc)})
                continue
            if info.get("running") and stream_id in published:
                continue  # reconciliation starts this stream, and the actor's worker is adopted
            if stream_id in {h.stream_id for h in self._handles.values()} | self._starting:
                continue  # this orchestrator took the stream meanwhile
            log.info("removing a worker actor left by an earlier orchestrator",
                     extra={"streamId": stream_id, "running": bool(info.get("running"))})
            for run_id in info.get("runIds") or ():
                try:
                    await asyncio.wait_for(_awaitable(actor.stop.remote(run_id)), self.stop_timeout + 15)
                except Exception as exc:  # noqa: BLE001 - killed below anyway (SIGKILL with its process)
                    log.warning("Ray: could not stop a leftover worker", extra={"streamId": stream_id,
                                                                               "error": _first_line(exc)})
            await asyncio.to_thread(self._kill, actor)

    # -- exit reporting -------------------------------------------------------------------------
    async def _watch(self, handle: RayHandle) -> None:
        ray = self._ray
        unavailable_since: float | None = None
        while not handle.reported:
            try:
                reply = await _awaitable(handle.actor.wait.remote(handle.run_id))
            except ray.exceptions.ActorUnavailableError as exc:
                # its node may be gone (Ray declares it dead after missed health checks) or only slow
                now = time.monotonic()
                unavailable_since = unavailable_since or now
                if now - unavailable_since >= self.lost_after:
                    await self._lost(handle, f"the worker's Ray actor has been unreachable for "
                                             f"{now - unavailable_since:.0f}s: {_first_line(exc)}")
                    return
                await asyncio.sleep(RETRY_PAUSE)
                continue
            except ray.exceptions.RayActorError as exc:
                await self._lost(handle, f"the worker's Ray actor died (its node was lost?): {_first_line(exc)}")
                return
            await self._finish(handle, reply)

    async def _finish(self, handle: RayHandle, reply: Mapping[str, Any]) -> None:
        if reply.get("unknown"):
            await self._lost(handle, "the stream's Ray actor no longer runs this worker")
            return
        if handle.reported:
            return
        await asyncio.to_thread(self._kill, handle.actor)  # its resources go back before the next start
        self._report(handle, _int_or_none(reply.get("exitCode")), reply.get("error") or None)

    async def _lost(self, handle: RayHandle, error: str) -> None:
        if handle.reported:
            return
        await asyncio.to_thread(self._kill, handle.actor)
        self._report(handle, None, error)

    def _kill(self, actor: Any) -> None:
        try:
            self._ray.kill(actor, no_restart=True)
        except Exception as exc:  # noqa: BLE001 - already dead, or the cluster is gone
            log.debug("Ray: kill of a worker actor failed", extra={"error": _first_line(exc)})


async def _awaitable(ref: Any) -> Any:
    """An ObjectRef awaited on this loop (a plain awaitable in tests)."""
    return await ref


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _describe(placement: RayPlacement) -> str:
    parts = [f"CPU {placement.num_cpus:g}"]
    if placement.num_gpus:
        parts.append(f"GPU {placement.num_gpus:g}")
    parts += [f"{name} {amount:g}" for name, amount in placement.resources.items()]
    return ", ".join(parts)
