"""The stream-worker host's HTTP contract, shared by the host (``app.py``) and its client
(``livedub.orchestrator.host_launcher``). Bodies are camelCase JSON like the orchestrator's."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from livedub.config.settings import STREAM_ID_PATTERN, WorkerSettings
from livedub.config.stream_query import StreamSettings
from livedub.media.paths import SOURCE_SCHEMES, has_scheme
from livedub.proc.launcher import WorkerSpec

RUN_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_WAIT_SECONDS = 30.0  # longest long-poll a client may ask for
# set from the spec's own fields, never from ``env``
_IDENTITY = {f"{WorkerSettings.env_prefix}{name.upper()}" for name in ("stream_id", "input_url", "output_url")}


def allowed_env() -> frozenset[str]:
    """The variables a start request may set: the worker's own settings, nothing else.

    A caller that could set ``LD_PRELOAD`` or ``PATH`` could run anything on the host.
    """
    names = {f"{WorkerSettings.env_prefix}{name.upper()}" for name in WorkerSettings.model_fields}
    return frozenset(names - _IDENTITY)


class WorkerState(str, Enum):
    running = "running"
    stopping = "stopping"
    exited = "exited"


class StartRequest(BaseModel):
    """``POST /v1/workers``: run one worker. Idempotent per (streamId, runId)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "streamId": "cam1", "runId": "3f2a9c1b7d4e", "inputUrl": "rtsp://mediamtx:8554/live/cam1/in",
        "outputUrl": "rtmp://mediamtx:1935/live/cam1/out", "env": {"WORKER_TARGET_LANG": "es"}}]})

    streamId: str = Field(..., pattern=STREAM_ID_PATTERN)
    runId: str = Field(..., pattern=RUN_ID_PATTERN, description="The orchestrator's id of this worker run.")
    inputUrl: str = Field(..., max_length=1024)
    outputUrl: str = Field(..., max_length=1024)
    env: dict[str, str] = Field(default_factory=dict,
                                description="Per-stream WORKER_* settings (validated by the orchestrator).")

    @field_validator("inputUrl", "outputUrl")
    @classmethod
    def _url(cls, value: str) -> str:
        if not has_scheme(value, SOURCE_SCHEMES):
            raise ValueError("expected an rtsp:// or rtmp:// URL")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - allowed_env())
        if unknown:
            shown = ", ".join(name if len(name) <= 64 else name[:64] + "..." for name in unknown[:5])
            raise ValueError(f"only WORKER_* settings may be set per stream; refused: {shown}")
        if any(len(v) > 256 for v in value.values()):
            raise ValueError("setting values are at most 256 characters")
        return value

    @classmethod
    def from_spec(cls, spec: WorkerSpec) -> StartRequest:
        return cls(streamId=spec.stream_id, runId=spec.run_id, inputUrl=spec.input_url, outputUrl=spec.output_url,
                   env=spec.settings.worker_env())

    def to_spec(self) -> WorkerSpec:
        prefix = WorkerSettings.env_prefix
        overrides = {name[len(prefix):].lower(): value for name, value in self.env.items()}
        return WorkerSpec(self.streamId, self.runId, self.inputUrl, self.outputUrl, StreamSettings(overrides))


class WorkerView(BaseModel):
    """One worker run as the host sees it."""

    streamId: str
    runId: str
    state: WorkerState
    pid: int | None
    exitCode: int | None = Field(None, description="Set once exited; negative: killed by that signal.")
    error: str | None = Field(None, description="Why it exited, when it was not a clean exit 0.")
    startedAt: float = Field(..., description="Unix time the process started.")
    exitedAt: float | None = None


class WorkerList(BaseModel):
    workers: list[WorkerView]
    instanceId: str = Field(..., description="Changes when the host restarts (its workers are gone then).")


class ErrorBody(BaseModel):
    error: str
