"""The stream-worker host's HTTP face (FastAPI): the orchestrator's ``HostLauncher`` is its client.

    POST   /v1/workers                      run a worker (201 new, 200 the run already exists)
    GET    /v1/workers                      every stream's newest run
    GET    /v1/workers/{streamId}?runId=&wait=10   one run; ``wait`` long-polls until it has exited
    DELETE /v1/workers/{streamId}?runId=    SIGTERM, SIGKILL after the stop timeout; answers once exited
    GET    /healthz, /metrics, /openapi.json

Exits reach the orchestrator by its long poll (see docs/worker-host.md for why not callbacks).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from livedub import __version__
from livedub.obs.logging import instance_id
from livedub.proc.launcher import LaunchError
from livedub.workerhost.api import (
    MAX_WAIT_SECONDS,
    RUN_ID_PATTERN,
    ErrorBody,
    StartRequest,
    WorkerList,
    WorkerState,
    WorkerView,
)
from livedub.workerhost.host import HostClosing, SpecConflict, WorkerHost

log = logging.getLogger(__name__)

STREAM_ID_PARAM = r"^[A-Za-z0-9_-]{1,64}$"


class _HostCollector(Collector):
    def __init__(self, host: WorkerHost) -> None:
        self._host = host

    def collect(self) -> Any:
        family = GaugeMetricFamily("worker_host_workers", "Worker runs on this host by state.", labels=["state"])
        records = self._host.records()
        for state in WorkerState:
            family.add_metric([state.value], sum(1 for r in records if r.state == state))
        yield family


def _not_found(stream_id: str, run_id: str | None) -> JSONResponse:
    what = f"run {run_id} of stream {stream_id!r}" if run_id else f"stream {stream_id!r}"
    return JSONResponse(ErrorBody(error=f"no worker for {what}").model_dump(), status_code=404)


def create_app(host: WorkerHost) -> FastAPI:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_HostCollector(host))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await host.warm_up()
        log.info("worker host started")
        try:
            yield
        finally:
            await host.close()
            log.info("worker host stopped")

    app = FastAPI(title="livedub stream-worker host", version=__version__, lifespan=lifespan,
                  description="Runs stream workers as child processes for the orchestrator "
                              "(ORCH_LAUNCHER=host). See docs/worker-host.md.")
    run_id_query = Query(None, pattern=RUN_ID_PATTERN, description="Only this run of the stream.")

    @app.post("/v1/workers", status_code=201, response_model=WorkerView, tags=["workers"],
              summary="Run a worker for a stream (idempotent per streamId + runId)",
              responses={200: {"model": WorkerView, "description": "This run exists already; nothing started."},
                         409: {"model": ErrorBody, "description": "The run id exists with another spec."},
                         503: {"model": ErrorBody, "description": "The worker could not be started, or the "
                                                                  "host is shutting down."}})
    async def start_worker(request: StartRequest) -> JSONResponse:
        try:
            rec, created = await host.start(request.to_spec())
        except SpecConflict as exc:
            return JSONResponse(ErrorBody(error=str(exc)).model_dump(), status_code=409)
        except (LaunchError, HostClosing) as exc:
            return JSONResponse(ErrorBody(error=str(exc)).model_dump(), status_code=503)
        return JSONResponse(rec.view().model_dump(mode="json"), status_code=201 if created else 200)

    @app.get("/v1/workers", response_model=WorkerList, tags=["workers"], summary="Every stream's newest run")
    async def list_workers() -> dict[str, Any]:
        return {"workers": [r.view() for r in host.records()], "instanceId": instance_id()}

    @app.get("/v1/workers/{stream_id}", response_model=WorkerView, tags=["workers"],
             summary="One run; with `wait`, answers as soon as it has exited (long poll)",
             responses={404: {"model": ErrorBody, "description": "Unknown stream or run (e.g. the host restarted)."}})
    async def get_worker(stream_id: str = Path(..., pattern=STREAM_ID_PARAM), runId: str | None = run_id_query,
                         wait: float = Query(0, ge=0, le=MAX_WAIT_SECONDS,
                                             description="Seconds to wait for the run to exit.")) -> Any:
        rec = await host.wait(stream_id, runId, wait)
        return _not_found(stream_id, runId) if rec is None else rec.view()

    @app.delete("/v1/workers/{stream_id}", response_model=WorkerView, tags=["workers"],
                summary="Stop the stream's worker (SIGTERM, then SIGKILL); answers once it has exited",
                responses={404: {"model": ErrorBody, "description": "Unknown stream or run."}})
    async def stop_worker(stream_id: str = Path(..., pattern=STREAM_ID_PARAM),
                          runId: str | None = run_id_query) -> Any:
        rec = await host.stop(stream_id, runId)
        return _not_found(stream_id, runId) if rec is None else rec.view()

    @app.get("/v1/metrics-targets", tags=["ops"], summary="Prometheus HTTP service discovery of the workers",
             description="Each running worker's /metrics as a Prometheus http_sd target (`http_sd_configs` "
                         "with this URL), addressed by the host name this request came to.")
    async def metrics_targets(request: Request) -> list[dict[str, Any]]:
        hostname = request.url.hostname or "127.0.0.1"
        if ":" in hostname:  # an IPv6 literal
            hostname = f"[{hostname}]"
        targets = []
        for rec in host.records():
            port = getattr(rec.handle, "metrics_port", None)
            if rec.state == WorkerState.running and port:
                targets.append({"targets": [f"{hostname}:{port}"],
                                "labels": {"stream_id": rec.spec.stream_id, "run_id": rec.spec.run_id}})
        return targets

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "running": host.running(), "instanceId": instance_id()}

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
