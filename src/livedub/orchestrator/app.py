"""The HTTP face of the orchestrator (FastAPI). Handlers validate and enqueue; they own no state.

Endpoints: hook events from the media server (``/v1/mediamtx/events/ready|not-ready``), stream
status (``/v1/streams``), the operator's console (``/``, its feed ``/v1/events``: console.py),
``/healthz``, ``/readyz``, ``/metrics`` and the OpenAPI schema (``/openapi.json``, browsable at ``/docs``).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from livedub import __version__
from livedub.config.stream_query import DEFAULT_SETTINGS, parse_stream_query
from livedub.media.paths import InvalidPath, peer_address, stream_id_from_ingest_path
from livedub.obs.logging import log_context
from livedub.orchestrator.actor import ActorBusy, HookEvent, OperatorCommand
from livedub.orchestrator.caption_routes import add_caption_routes
from livedub.orchestrator.console import add_console
from livedub.orchestrator.supervisor import Admission, Decision

if TYPE_CHECKING:
    from livedub.orchestrator.service import OrchestratorService

log = logging.getLogger(__name__)

MAX_EVENT_BYTES = 64 * 1024  # a real event is a few hundred bytes
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
STREAM_ID_PARAM = r"^[A-Za-z0-9_-]{1,64}$"
INGEST_PATH_PATTERN = r"^/*live/[A-Za-z0-9_-]{1,64}/in/*$"


class HookEventBody(BaseModel):
    """What the hook program (MediaMTX) and the nginx hook bridge send."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={
        "examples": [{"path": "live/abc/in", "query": "lang=es&voice=ef_dora", "sourceType": "rtmpConn",
                      "sourceId": "9f1c7a2e-8d2b-4f7e-a1c3-2b5d8e0f4a11"}]})

    # the pattern is documented, not enforced by pydantic: the handler checks it and says what is wrong
    path: str = Field(..., max_length=512, description="Ingest path, `live/<streamId>/in` (MTX_PATH).",
                      json_schema_extra={"pattern": INGEST_PATH_PATTERN})
    # no length limits on these: bad settings never break ingest (an over-long query is ignored with a
    # warning, over-long ids are cut); the body as a whole is capped at MAX_EVENT_BYTES
    query: str = Field("", description="Publisher's query string without `?` (MTX_QUERY): per-stream settings "
                                       "(lang, src, voice, mode, fallback). Invalid ones are ignored with a warning.")
    sourceType: str = Field("", description="MTX_SOURCE_TYPE, e.g. rtmpConn (cut to 256 characters).")
    sourceId: str = Field("", description="MTX_SOURCE_ID: the publisher connection's id (cut to 256 characters).")

    @field_validator("sourceType", "sourceId")
    @classmethod
    def _cut(cls, value: str) -> str:
        return value[:256]


class EventAccepted(BaseModel):
    correlationId: str
    streamId: str
    event: Literal["ready", "not-ready"]
    result: Literal["accepted", "duplicate", "stale"] = Field(
        description="accepted: state changed or work scheduled; duplicate: nothing new; "
                    "stale: an older publisher's event, ignored.")
    detail: str = ""
    workerStarting: bool = Field(False, description="A new worker is on its way for this event (the nginx "
                                 "hook bridge holds the publisher until it reads); false when the stream's "
                                 "worker was kept (a publisher back within the grace period).")
    settingsWarnings: list[str] = Field(default_factory=list)


class ErrorBody(BaseModel):
    error: str
    correlationId: str = ""


class StreamView(BaseModel):
    streamId: str
    state: Literal["idle", "starting", "running", "stopping", "backoff", "degraded"]
    stateForSeconds: float
    live: bool
    pid: int | None
    where: str | None = Field(None, description="Where its worker runs: local, host <host:port> (a worker "
                              "host) or ray node <id> (ORCH_LAUNCHER=ray); null without a worker.")
    runId: str | None
    starts: int
    stops: int
    restarts: int
    failures: int
    lastError: str | None
    lastExitCode: int | None
    degradedReason: str | None
    stoppedByOperator: bool = Field(False, description="Stopped from the console or POST .../stop: no worker "
                                    "until a restart or a new publisher.")
    graceRemainingSeconds: float | None
    restartInSeconds: float | None
    settings: dict[str, str]
    settingsWarnings: list[str]
    sourceType: str
    sourceId: str
    lastCorrelationId: str


class StreamList(BaseModel):
    streams: list[StreamView]
    activeWorkers: int
    maxWorkers: int


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed JSON, or not a JSON object."},
    401: {"model": ErrorBody, "description": "ORCH_HOOK_TOKEN is set and the request does not carry it "
                                             "(`Authorization: Bearer <token>`)."},
    415: {"model": ErrorBody, "description": "Content-Type is not application/json."},
    413: {"model": ErrorBody, "description": f"Body larger than {MAX_EVENT_BYTES // 1024} KiB."},
    422: {"model": ErrorBody, "description": "Not `live/<streamId>/in`, a bad stream id, or a field of the "
                                             "wrong type."},
    429: {"model": ErrorBody, "description": "ORCH_MAX_WORKERS streams already run; retry later."},
    503: {"model": ErrorBody, "description": "Shutting down, or too many events queued; retry later."},
}

_HOOK_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": HookEventBody.model_json_schema(ref_template="#/components/schemas/{model}")}}}}


def _bearer_matches(header: str, token: str) -> bool:
    scheme, _, presented = header.partition(" ")
    # constant time: the comparison must not tell a caller how much of a guess was right
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def _private_address(addr: str) -> bool:
    ip = peer_address(addr)  # an IPv4-mapped address is judged as its IPv4 one, as for nginx
    return ip is not None and (ip.is_loopback or ip.is_private)


def create_app(service: OrchestratorService) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title="livedub stream-orchestration", version=__version__, lifespan=lifespan,
                  description="Starts and stops exactly one stream worker per published `live/<id>/in` "
                              "path, driven by media server hook events. See docs/orchestrator.md.")

    def error(status: int, message: str, correlation_id: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(ErrorBody(error=message, correlationId=correlation_id).model_dump(), status_code=status,
                            headers={"X-Correlation-Id": correlation_id, **(headers or {})})

    def key_refused(stream_id: str, query: str) -> bool:
        """With ORCH_PUBLISH_KEYS_FILE: whether this publisher lacks its stream's key (logged, never the key)."""
        if service.publish_keys is None or service.publish_keys.allows(stream_id, query):
            return False
        log.warning("refused a publisher: missing or wrong publish key", extra={"streamId": stream_id})
        return True

    async def hook(kind: Literal["ready", "not-ready"], request: Request) -> JSONResponse:
        header = request.headers.get("x-correlation-id", "")
        correlation_id = header if _CORRELATION_ID.fullmatch(header) else uuid.uuid4().hex
        with log_context(correlationId=correlation_id):
            response = await _hook(kind, request, correlation_id)
        if response.status_code >= 400:
            service.events.add(kind, "at_capacity" if response.status_code == 429
                               else "busy" if response.status_code == 503
                               else "unauthorized" if response.status_code == 401
                               else "refused_key" if response.status_code == 403 else "invalid")
        return response

    async def _hook(kind: Literal["ready", "not-ready"], request: Request, correlation_id: str) -> JSONResponse:
        token = service.settings.hook_token
        if token is not None and not _bearer_matches(request.headers.get("authorization", ""),
                                                     token.get_secret_value()):
            return error(401, "missing or wrong hook token (Authorization: Bearer <ORCH_HOOK_TOKEN>)",
                         correlation_id, {"WWW-Authenticate": "Bearer"})
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            return error(415, "hook events are JSON: send Content-Type: application/json", correlation_id)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_EVENT_BYTES:
            return error(413, f"event body larger than {MAX_EVENT_BYTES} bytes", correlation_id)
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_EVENT_BYTES:
                return error(413, f"event body larger than {MAX_EVENT_BYTES} bytes", correlation_id)
        try:
            data = json.loads(bytes(body).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return error(400, f"malformed JSON: {exc}", correlation_id)
        except RecursionError:
            return error(400, "malformed JSON: nested too deeply", correlation_id)
        if not isinstance(data, dict):
            return error(400, "expected a JSON object {path, query, sourceType, sourceId}", correlation_id)
        try:
            event = HookEventBody.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
            return error(422, f"invalid event: {problems}", correlation_id)
        try:
            stream_id = stream_id_from_ingest_path(event.path)
        except InvalidPath as exc:
            return error(422, str(exc), correlation_id)
        if kind == "ready" and key_refused(stream_id, event.query):
            # nginx's on_publish drops the publisher on this answer; nothing is recorded for it
            return error(403, "publish key missing or wrong for this stream (send it as ?key=...)", correlation_id)
        with log_context(streamId=stream_id):
            settings = parse_stream_query(event.query, service.worker_env) if kind == "ready" else DEFAULT_SETTINGS
            for warning in settings.warnings:
                log.warning("ingest query: %s", warning)
            try:
                decision = await service.actor.submit(HookEvent(kind, stream_id, settings, event.sourceId,
                                                                event.sourceType, correlation_id))
            except ActorBusy as exc:
                return error(503, str(exc), correlation_id, {"Retry-After": "1"})
        assert isinstance(decision, Decision)
        service.events.add(kind, decision.admission.value)
        if decision.admission == Admission.at_capacity:
            return error(429, decision.detail, correlation_id, {"Retry-After": "5"})
        payload = EventAccepted(correlationId=correlation_id, streamId=stream_id, event=kind,
                                result=decision.admission.value, detail=decision.detail,
                                workerStarting=decision.worker_starting, settingsWarnings=list(settings.warnings))
        return JSONResponse(payload.model_dump(), status_code=202, headers={"X-Correlation-Id": correlation_id})

    @app.post("/v1/mediamtx/events/ready", status_code=202, response_model=EventAccepted, responses=_ERRORS,
              openapi_extra=_HOOK_BODY, tags=["hooks"], summary="An ingest path became ready (publisher started)")
    async def ready(request: Request) -> JSONResponse:
        return await hook("ready", request)

    @app.post("/v1/mediamtx/events/not-ready", status_code=202, response_model=EventAccepted, responses=_ERRORS,
              openapi_extra=_HOOK_BODY, tags=["hooks"], summary="An ingest path stopped (publisher gone)")
    async def not_ready(request: Request) -> JSONResponse:
        return await hook("not-ready", request)

    @app.post("/v1/mediamtx/auth", tags=["hooks"], summary="MediaMTX HTTP authentication (authMethod: http)",
              responses={401: {"description": "a publisher of live/<id>/in without its publish key"}})
    async def mediamtx_auth(request: Request) -> Response:
        """MediaMTX asks before it accepts a publisher or reader (its JSON: user, password, ip, action,
        path, protocol, id, query). 200 lets it in; 401 refuses. The rules of deploy/mediamtx.yml's
        internal auth, plus the keys: anyone may read and play back; publishing ``live/<id>/in``
        needs the stream's key (ORCH_PUBLISH_KEYS_FILE; without a file, anyone may); the control API,
        metrics and publishing any other path (the workers' ``live/<id>/out``) only from loopback or
        private networks. Answers yes or no only, so it needs no hook token (MediaMTX cannot send one)."""
        try:
            data = json.loads((await request.body())[:MAX_EVENT_BYTES] or b"{}")
        except (UnicodeDecodeError, ValueError, RecursionError):
            return Response(status_code=400)
        if not isinstance(data, dict):
            return Response(status_code=400)
        action = data.get("action")
        if action in ("read", "playback"):
            return Response(status_code=200)
        try:
            stream_id = stream_id_from_ingest_path(str(data.get("path", ""))) if action == "publish" else None
        except InvalidPath:
            stream_id = None
        if stream_id is None:  # api, metrics, pprof, or publishing a worker's output
            return Response(status_code=200 if _private_address(str(data.get("ip", ""))) else 401)
        if not key_refused(stream_id, str(data.get("query", ""))):
            return Response(status_code=200)
        service.events.add("auth", "refused_key")
        return Response(status_code=401)

    def stream_list() -> dict[str, Any]:
        now = service.actor.clock()
        records = service.supervisor.records()
        return {"streams": [r.view(now) for r in records], "activeWorkers": len(service.actor.processes()),
                "maxWorkers": service.supervisor.policy.max_workers}

    @app.get("/v1/streams", response_model=StreamList, tags=["streams"], summary="Every known stream")
    async def list_streams() -> dict[str, Any]:
        return stream_list()

    def console_snapshot() -> dict[str, Any]:
        body = stream_list()
        urls = getattr(service.media, "watch_urls", None)  # a media server that offers none: {}
        runs = service.runs
        if runs is not None:
            runs.forget({view["streamId"] for view in body["streams"]})
        body["streams"] = [{**view, "watch": watch(view["streamId"], urls),
                            "run": runs.view(view["streamId"], view["runId"]) if runs is not None else {}}
                           for view in body["streams"]]
        return body

    def watch(stream_id: str, urls: Any) -> dict[str, str]:
        found = dict(urls(stream_id)) if callable(urls) else {}
        if media_playlist(stream_id) is not None and service.runs is not None:
            found["captions"] = f"/v1/streams/{stream_id}/hls/index.m3u8"  # the HLS with its live captions
        return found

    def media_playlist(stream_id: str) -> str | None:
        playlist = getattr(service.media, "hls_media_playlist", None)  # only where livedub knows its timestamps
        return playlist(stream_id) if callable(playlist) else None

    def run_of(stream_id: str) -> str | None:
        rec = service.supervisor.get(stream_id)
        return rec.run_id if rec is not None else None

    add_console(app, console_snapshot)
    add_caption_routes(app, media_playlist=media_playlist, run_of=run_of, runs=service.runs)

    @app.get("/v1/streams/{stream_id}", response_model=StreamView, tags=["streams"], summary="One stream",
             responses={404: {"model": ErrorBody, "description": "Unknown stream."}})
    async def get_stream(stream_id: str = Path(..., pattern=STREAM_ID_PARAM)) -> Any:
        rec = service.supervisor.get(stream_id)
        if rec is None:
            return JSONResponse({"error": f"unknown stream {stream_id!r}", "correlationId": ""}, status_code=404)
        return rec.view(service.actor.clock())

    async def operator(kind: Literal["stop", "restart"], stream_id: str, request: Request) -> JSONResponse:
        token = service.settings.control_token
        authorization = request.headers.get("authorization", "")
        if token is not None:
            if not _bearer_matches(authorization, token.get_secret_value()):
                return error(401, "missing or wrong control token (Authorization: Bearer <ORCH_CONTROL_TOKEN>)",
                             "operator", {"WWW-Authenticate": "Bearer"})
        else:
            client = peer_address(request.client.host if request.client else "")
            if client is None or not client.is_loopback:
                return error(403, "stop and restart are open to loopback clients only; set ORCH_CONTROL_TOKEN "
                             "to allow them from elsewhere", "operator")
        try:
            decision = await service.actor.submit(OperatorCommand(kind, stream_id))
        except ActorBusy as exc:
            return error(503, str(exc), "operator", {"Retry-After": "1"})
        if decision is None:
            return error(404, f"unknown stream {stream_id!r}", "operator")
        assert isinstance(decision, Decision)
        log.info("operator command", extra={"streamId": stream_id, "command": kind,
                                            "result": decision.admission.value, "detail": decision.detail})
        status = 429 if decision.admission == Admission.at_capacity else 202
        rec = service.supervisor.get(stream_id)
        return JSONResponse({"result": decision.admission.value, "detail": decision.detail,
                             "stream": rec.view(service.actor.clock()) if rec is not None else None},
                            status_code=status)

    @app.post("/v1/streams/{stream_id}/stop", status_code=202, tags=["streams"],
              summary="Stop the stream's worker; it stays stopped until a restart or a new publisher",
              responses={401: {"model": ErrorBody, "description": "ORCH_CONTROL_TOKEN is set and was not sent"},
                         403: {"model": ErrorBody,
                               "description": "no ORCH_CONTROL_TOKEN and the client is not on loopback"},
                         503: {"model": ErrorBody, "description": "The orchestrator is busy or stopping."},
                         404: {"model": ErrorBody, "description": "Unknown stream."}})
    async def stop_stream(request: Request, stream_id: str = Path(..., pattern=STREAM_ID_PARAM)) -> JSONResponse:
        return await operator("stop", stream_id, request)

    @app.post("/v1/streams/{stream_id}/restart", status_code=202, tags=["streams"],
              summary="A new worker for the stream (its running one is stopped first; clears degraded)",
              responses={401: {"model": ErrorBody, "description": "ORCH_CONTROL_TOKEN is set and was not sent"},
                         403: {"model": ErrorBody,
                               "description": "no ORCH_CONTROL_TOKEN and the client is not on loopback"},
                         503: {"model": ErrorBody, "description": "The orchestrator is busy or stopping."},
                         404: {"model": ErrorBody, "description": "Unknown stream."},
                         429: {"description": "ORCH_MAX_WORKERS streams already active"}})
    async def restart_stream(request: Request, stream_id: str = Path(..., pattern=STREAM_ID_PARAM)) -> JSONResponse:
        return await operator("restart", stream_id, request)

    @app.get("/healthz", tags=["ops"], summary="Liveness: the supervisor task runs")
    async def healthz() -> JSONResponse:
        if not service.actor.running:
            return JSONResponse({"status": "stopped"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", tags=["ops"], summary="Readiness: running, the first reconciliation was attempted "
                                              "and the media server's API answers")
    async def readyz() -> JSONResponse:
        if not service.actor.running:
            return JSONResponse({"status": "stopped"}, status_code=503)
        reconciler = service.reconciler
        if reconciler is not None and not reconciler.first_pass_done:
            return JSONResponse({"status": "reconciling"}, status_code=503)
        body: dict[str, Any] = {"status": "ready"}
        if reconciler is not None:
            body["reconcileError"] = reconciler.last_error
        standbys = service.standby_counts()
        if standbys is not None:
            body["standbyWorkers"] = standbys  # ready without them: a stream then waits for its models
        cluster = await service.cluster_view()
        if cluster is not None:  # reported, not gating: hooks must still be answered, running workers go on
            body["rayCluster"] = cluster
        media_error = await service.media_probe.error()
        if media_error is not None:
            body.update(status="media-server-unreachable", error=media_error)
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(service.registry), media_type=CONTENT_TYPE_LATEST)

    return app
