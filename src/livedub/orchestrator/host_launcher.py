"""Workers on the stream-worker host (``ORCH_LAUNCHER=host``): the Launcher protocol over HTTP.

    start(spec)  -> POST   {host}/v1/workers                 (idempotent per stream + run: safe to retry)
    stop(handle) -> DELETE {host}/v1/workers/{id}?runId=     (answers once the process has exited)
    exit         <- GET    {host}/v1/workers/{id}?runId=&wait=N, a long poll per handle

Exits are polled, not pushed: the orchestrator, which needs the exit, owns the retry; an exit that
happens while the orchestrator cannot be reached waits on the host until the next poll; a host
that restarted answers 404 and the run is reported lost. Every handle reports its exit exactly
once, whichever of the poll, ``stop`` or "unreachable for too long" sees it first.

Failures are never fatal to the orchestrator: a host that cannot be reached turns ``start`` into a
:class:`HostUnreachable` (a :class:`LaunchError`: the stream goes to backoff), and a worker whose
host stays unreachable for ``lost_after`` seconds is reported as exited (restarted with backoff;
the host replaces the old run when the new one arrives, so there is never a second process).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from livedub.obs.redact import redact_url
from livedub.orchestrator.remote_runs import RemoteRuns
from livedub.proc.launcher import ExitListener, LaunchError, WorkerHandle, WorkerSpec
from livedub.workerhost.api import StartRequest, WorkerList, WorkerState, WorkerView

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0
REQUEST_TIMEOUT = 10.0
POLL_WAIT = 10.0  # seconds the host holds a poll open; the exit arrives as soon as it happens
RETRY_DELAYS = (0.2, 0.5, 1.0)  # between attempts of one request (all our requests are idempotent)
LOST_AFTER = 30.0  # a worker whose host cannot be reached this long is reported as exited


class HostUnreachable(LaunchError):
    """No answer from the worker host (connection refused, DNS, timeout): retryable."""


class HostRefused(LaunchError):
    """The worker host answered with an error (bad request, could not run the worker)."""


@dataclass(eq=False)
class HostHandle:
    stream_id: str
    run_id: str
    pid: int | None
    on_exit: ExitListener
    where: str = ""  # "host <host:port>" of the worker host (no credentials)
    reported: bool = False
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


class HostLauncher(RemoteRuns[HostHandle]):
    def __init__(self, base_url: str, stop_timeout: float = 10.0, *, poll_wait: float = POLL_WAIT,
                 lost_after: float = LOST_AFTER, retry_delays: tuple[float, ...] = RETRY_DELAYS,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.stop_timeout = stop_timeout
        self.poll_wait = poll_wait
        self.lost_after = lost_after
        self.retry_delays = retry_delays
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        # run ids whose start request is on its way: the host may already run them, but they have no
        # handle yet, and the orphan sweep must not take them for an earlier orchestrator's runs
        self._starting: set[str] = set()

    # -- the Launcher protocol ------------------------------------------------------------------
    async def start(self, spec: WorkerSpec, on_exit: ExitListener) -> HostHandle:
        body = StartRequest.from_spec(spec).model_dump()
        self._starting.add(spec.run_id)
        try:
            # a start may first stop the stream's previous run on the host (SIGTERM ... SIGKILL)
            response = await self._request("POST", "/v1/workers", json=body,
                                           timeout=self._timeout(self.stop_timeout + REQUEST_TIMEOUT))
            return self._started(spec, on_exit, response)
        finally:
            self._starting.discard(spec.run_id)

    def _started(self, spec: WorkerSpec, on_exit: ExitListener, response: httpx.Response) -> HostHandle:
        if response.status_code not in (200, 201):
            raise HostRefused(f"worker host refused to start the worker ({response.status_code}): "
                              f"{_error_text(response)}")
        try:
            view = WorkerView.model_validate(response.json())
        except ValueError as exc:  # a proxy's error page, another service on that port
            raise HostRefused(f"unexpected answer from the worker host: {str(exc)[:200]}") from None
        handle = HostHandle(spec.stream_id, spec.run_id, view.pid, on_exit,
                            where=f"host {urlsplit(redact_url(self.base_url)).netloc}")
        self._handles[spec.run_id] = handle
        log.info("worker started on the host", extra={"streamId": spec.stream_id, "runId": spec.run_id,
                                                      "pid": view.pid, "host": redact_url(self.base_url),
                                                      "existing": response.status_code == 200})
        if view.state == WorkerState.exited:  # a worker that died at once (or a retried, finished run)
            self._report(handle, view.exitCode, view.error)
        else:
            handle.watcher = asyncio.create_task(self._watch(handle), name=f"watch-{spec.stream_id}")
        return handle

    async def stop(self, handle: WorkerHandle) -> None:
        if not isinstance(handle, HostHandle):
            raise TypeError("HostLauncher can only stop its own handles")
        if handle.reported:
            return
        path = f"/v1/workers/{handle.stream_id}"
        try:
            # the host answers once the worker has exited: SIGTERM, then SIGKILL after its stop timeout
            response = await self._request("DELETE", path, params={"runId": handle.run_id},
                                           timeout=self._timeout(self.stop_timeout + 15))
        except HostUnreachable as exc:
            # not fatal: the watcher reports the run lost if the host stays away
            log.error("cannot stop worker: worker host unreachable",
                      extra={"streamId": handle.stream_id, "runId": handle.run_id, "error": str(exc)})
            return
        if response.status_code == 404:
            self._report(handle, None, "the worker host no longer knows this worker (host restarted?)")
        elif response.status_code == 200:
            view = WorkerView.model_validate(response.json())
            if view.state == WorkerState.exited:
                self._report(handle, view.exitCode, view.error)
        else:
            log.error("worker host could not stop the worker", extra={
                "streamId": handle.stream_id, "runId": handle.run_id, "status": response.status_code,
                "error": _error_text(response)})

    async def close(self) -> None:
        """Stop the workers still running, end the pollers, close the connection pool."""
        await self._stop_all(self.stop)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- orphans of an earlier orchestrator ------------------------------------------------------
    def start_sweep(self) -> asyncio.Task[None]:
        """In the background: stop workers on the host that belong to no run of this orchestrator.

        After an orchestrator restart the host still runs the old runs; streams that are live get
        a new run (which replaces the old one on the host) through reconciliation, the others would
        run on until their input ends. Only runs listed before the sweep are touched (by run id),
        and never one of this orchestrator's: those with a handle, and those whose start request
        is still in flight (the host lists them before their answer arrives here).
        """
        self._sweep = asyncio.create_task(self._sweep_orphans(), name="worker-host-sweep")
        return self._sweep

    async def _sweep_orphans(self) -> None:
        try:
            response = await self._request("GET", "/v1/workers")
            listing = WorkerList.model_validate(response.json())
        except (LaunchError, ValueError) as exc:
            log.warning("worker host: cannot list workers to stop orphans", extra={"error": str(exc)})
            return
        # read after the listing arrived: a run listed there was started here before or is starting now
        ours = self._handles.keys() | self._starting
        orphans = [w for w in listing.workers if w.state != WorkerState.exited and w.runId not in ours]
        for worker in orphans:
            log.info("stopping a worker left by an earlier orchestrator",
                     extra={"streamId": worker.streamId, "runId": worker.runId})
        results = await asyncio.gather(*(self._request("DELETE", f"/v1/workers/{w.streamId}",
                                                       params={"runId": w.runId},
                                                       timeout=self._timeout(self.stop_timeout + 15))
                                         for w in orphans), return_exceptions=True)
        for worker, result in zip(orphans, results):
            if isinstance(result, BaseException):
                log.warning("could not stop an orphan worker", extra={"streamId": worker.streamId,
                                                                      "error": str(result)})

    # -- exit reporting -------------------------------------------------------------------------
    async def _watch(self, handle: HostHandle) -> None:
        path = f"/v1/workers/{handle.stream_id}"
        unreachable_since: float | None = None
        while not handle.reported:
            try:
                response = await self._request("GET", path, params={"runId": handle.run_id, "wait": self.poll_wait},
                                               timeout=self._timeout(self.poll_wait + REQUEST_TIMEOUT), retries=())
            except HostUnreachable as exc:
                now = time.monotonic()
                unreachable_since = unreachable_since or now
                if now - unreachable_since >= self.lost_after:
                    self._report(handle, None, f"worker host unreachable for {now - unreachable_since:.0f}s "
                                               f"({exc}); worker presumed lost")
                    return
                await asyncio.sleep(min(1.0, self.lost_after / 10))  # retry pacing, not synchronisation
                continue
            unreachable_since = None
            if response.status_code == 404:
                self._report(handle, None, "the worker host no longer knows this worker (host restarted?)")
                return
            if response.status_code != 200:
                log.warning("worker host poll failed", extra={"streamId": handle.stream_id,
                                                              "status": response.status_code})
                await asyncio.sleep(1.0)  # retry pacing
                continue
            view = WorkerView.model_validate(response.json())
            if view.state == WorkerState.exited:
                self._report(handle, view.exitCode, view.error)

    # -- HTTP ------------------------------------------------------------------------------------
    def _timeout(self, read: float) -> httpx.Timeout:
        return httpx.Timeout(read, connect=CONNECT_TIMEOUT)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.base_url, transport=self._transport,
                                             timeout=self._timeout(REQUEST_TIMEOUT))
        return self._client

    async def _request(self, method: str, path: str, *, retries: tuple[float, ...] | None = None,
                       **kwargs: object) -> httpx.Response:
        """One idempotent request, retried on transport errors; raises :class:`HostUnreachable`."""
        delays = self.retry_delays if retries is None else retries
        send: Callable[..., Awaitable[httpx.Response]] = self._http().request
        for attempt in range(len(delays) + 1):
            try:
                return await send(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == len(delays):
                    raise HostUnreachable(f"worker host {redact_url(self.base_url)} unreachable: "
                                          f"{type(exc).__name__}: {exc or 'no answer'}") from None
                await asyncio.sleep(delays[attempt])  # retry pacing
        raise AssertionError("unreachable")


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])[:500]
    if isinstance(body, dict) and "detail" in body:  # FastAPI validation errors
        return str(body["detail"])[:500]
    return str(body)[:500]
