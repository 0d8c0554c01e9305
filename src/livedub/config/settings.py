"""Every setting livedub reads, by family. `.env.example` is generated from these classes."""

from __future__ import annotations

import json
import re
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator

from livedub.config.durations import Duration
from livedub.config.loader import SettingsBase
from livedub.media.paths import RTMP_SCHEMES, has_scheme

STREAM_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
RUN_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,80}$"
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):(?P<port>\d{1,5})$")


def check_stream_id(value: str) -> str:
    """Empty (not set) or a valid stream id; the one rule for every setting that names a stream."""
    if value and not re.fullmatch(STREAM_ID_PATTERN, value):
        raise ValueError("stream ids use only A-Z, a-z, 0-9, '_' and '-' (1-64 characters)")
    return value


def ray_resources(value: str) -> dict[str, float]:
    """``ORCH_RAY_RESOURCES`` (a JSON object of resource name -> amount; empty: none) as a dict."""
    if not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        raise ValueError('expected a JSON object such as {"livedub_models": 1}') from None
    if not isinstance(parsed, dict) or not all(
            isinstance(k, str) and k and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
            for k, v in parsed.items()):
        raise ValueError('expected a JSON object of resource names to amounts >= 0, e.g. {"livedub_models": 1}')
    if {"CPU", "GPU", "memory"} & parsed.keys():
        raise ValueError("CPU and GPU have their own settings (ORCH_RAY_NUM_CPUS, ORCH_RAY_NUM_GPUS)")
    return {k: float(v) for k, v in parsed.items()}


def _port(description: str, default: int) -> int:
    return Field(default, ge=0, le=65535, description=description)


class LogFormat(str, Enum):
    json = "json"
    console = "console"


class LogLevel(str, Enum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class LogSettings(SettingsBase):
    """Logging"""

    env_prefix = "LOG_"
    level: LogLevel = Field(LogLevel.INFO, description="DEBUG, INFO, WARNING or ERROR.")
    format: LogFormat = Field(LogFormat.json, description="json (one JSON object per line) or console.")

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class MediaBackend(str, Enum):
    auto = "auto"
    mediamtx = "mediamtx"
    nginx = "nginx"


class MediaSettings(SettingsBase):
    """Media server"""

    env_prefix = "MEDIA_"
    backend: MediaBackend = Field(
        MediaBackend.auto,
        description="auto (mediamtx when its binary is on PATH, else nginx), mediamtx, or nginx.",
    )
    host: str = Field("127.0.0.1", description="Host the media server is reached at (workers, clients).")
    rtmp_port: int = _port("RTMP ingest and publish port.", 1935)
    rtsp_port: int = _port("RTSP pull port (MediaMTX).", 8554)
    api_port: int = _port("Control API port (MediaMTX /v3; nginx serves its /stat page here).", 9997)
    metrics_port: int = _port("Prometheus metrics port (MediaMTX).", 9998)
    playback_port: int = _port("Playback server port (MediaMTX).", 9996)
    hls_port: int = _port("HLS port for watching in a browser (MediaMTX; nginx serves /hls/<id>/out/index.m3u8 "
                          "there; 0: no HLS from nginx).", 8888)
    webrtc_port: int = _port("WebRTC port for watching in a browser (MediaMTX).", 8889)
    record: bool = Field(False, description="Record ingest paths as fMP4 (MediaMTX; opt-in).")
    mediamtx_binary: str = Field("mediamtx", description="Name or path of the MediaMTX binary.")
    nginx_binary: str = Field("nginx", description="Name or path of the nginx binary (embedded backend).")
    ingest_hold: Duration = Field(
        6.0, ge=0, le=10, description="nginx: a new publisher waits up to this long until its worker reads "
        "the stream, so the output starts at the stream's first frame (0: off, the worker joins at a later "
        "keyframe and about one GOP of the start is lost; docs/worker.md 'The first seconds').")


class Launcher(str, Enum):
    process = "process"
    host = "host"
    ray = "ray"


class OrchestratorSettings(SettingsBase):
    """Stream orchestrator"""

    env_prefix = "ORCH_"
    http_addr: str = Field("127.0.0.1:8080", description="host:port the orchestrator listens on.")
    public_url: str = Field(
        "",
        description="URL hooks use to reach the orchestrator (default: derived from ORCH_HTTP_ADDR).",
    )
    grace_period: Duration = Field(30.0, ge=0, description="Keep a worker this long after not-ready.")
    max_workers: int = Field(4, ge=1, le=1000, description="Most streams processed at once (429 above).")
    restart_backoff_initial: Duration = Field(1.0, gt=0, description="First restart delay of a crashed worker.")
    restart_backoff_max: Duration = Field(60.0, gt=0, description="Longest restart delay.")
    restart_max_in_window: int = Field(5, ge=1, description="Restarts allowed per window before degraded.")
    restart_window: Duration = Field(600.0, gt=0, description="Window for ORCH_RESTART_MAX_IN_WINDOW.")
    reconcile_interval: Duration = Field(15.0, gt=0, description="How often to reconcile with the media server.")
    worker_stop_timeout: Duration = Field(
        10.0, gt=0, description="SIGTERM to SIGKILL delay for workers; keep it above the delay (a worker "
        "stopped after its input ended plays out its delayed output first).")
    worker_command: str = Field(
        "",
        description="Command that starts a worker (default: this Python's `livedub worker`).",
    )
    warm_workers: int = Field(
        1, ge=0, le=16, description="Standby workers kept started, models loading or loaded, for the next stream "
        "with default settings (ORCH_LAUNCHER=process): its first seconds are dubbed. 0: a process per start.",
    )
    launcher: Launcher = Field(
        Launcher.process,
        description="process (child processes), host (a stream-worker host service) or ray (one Ray actor per "
        "stream run on a Ray cluster, `cluster` extra; docs/scaling.md).",
    )
    worker_host_url: str = Field("", description="URL of the stream-worker host (ORCH_LAUNCHER=host).")
    ray_address: str = Field(
        "", description="Ray cluster the workers run on (ORCH_LAUNCHER=ray): the head's GCS address host:port "
        "(e.g. ray-head:6379), ray://host:10001 for Ray Client, or auto (RAY_ADDRESS / a local head).")
    ray_namespace: str = Field("livedub", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                               description="Ray namespace of the worker actors; one per livedub deployment.")
    ray_num_cpus: float = Field(1.0, ge=0, description="CPUs Ray reserves for each stream's worker actor.")
    ray_num_gpus: float = Field(0.0, ge=0, description="GPUs Ray reserves for each stream's worker actor "
                                "(1 on the gpu profile: a GPU per stream; 0.5: two streams share one).")
    ray_resources: str = Field(
        "", description="Custom Ray resources each worker actor needs, as JSON (e.g. {\"livedub_models\": 1}: "
        "only nodes started with that resource run workers).")
    ray_spread: bool = Field(True, description="Spread stream workers over the nodes that fit (a lost node "
                             "takes fewer streams with it); false: Ray's default packing.")
    hook_token: SecretStr | None = Field(
        None,
        description="Shared secret the media server's hooks send (Authorization: Bearer); a hook event without "
        "it gets 401. `livedub up` generates one per run. Unset: hook events are not authenticated (a warning at "
        "start). Generate one with `openssl rand -hex 32`.",
    )
    control_token: SecretStr | None = Field(
        None, description="Token the stop/restart endpoints (POST /v1/streams/<id>/stop|restart, the console's "
        "buttons) require as Authorization: Bearer. Unset: only clients on loopback may use them.")
    publish_keys_file: str = Field(
        "", description="File of per-stream publish keys ('<stream id or *> <key>' per line): a publisher must "
        "send its stream's key as ?key=... or it is refused (nginx on_publish, MediaMTX authMethod http). "
        "Empty: anyone who reaches the ingest port may publish. Re-read when it changes.",
    )

    @field_validator("publish_keys_file")
    @classmethod
    def _publish_keys(cls, value: str) -> str:
        if value:
            from livedub.config.publish_keys import load_keys  # it imports this module

            load_keys(Path(value))  # PublishKeysError is a ValueError: reported naming the variable
        return value

    @field_validator("ray_resources")
    @classmethod
    def _ray_resources(cls, value: str) -> str:
        ray_resources(value)
        return value

    @property
    def ray_resource_map(self) -> dict[str, float]:
        return ray_resources(self.ray_resources)

    @field_validator("http_addr")
    @classmethod
    def _addr(cls, value: str) -> str:
        match = _HOST_PORT.fullmatch(value)
        if not match or int(match.group("port")) > 65535:
            raise ValueError("expected host:port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080")
        return value


class StsMode(str, Enum):
    bypass = "bypass"
    mock = "mock"
    real = "real"


class Fallback(str, Enum):
    pass_through = "pass-through"
    background_only = "background-only"
    ducked_original = "ducked-original"
    last_good_dub = "last-good-dub"
    silence = "silence"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Quality(str, Enum):
    auto = "auto"
    natural = "natural"
    fast = "fast"
    fastest = "fastest"


# What each WORKER_STS_MODE needs when the user did not say: bypass no STS budget at all; mock only its
# instant fake (the longest fragment plus the output lead); real what 2 CPU cores need
# (bench/live_dub.py, docs/benchmarks.md "Live dubbing").
MODE_DEFAULTS: dict[str, dict[str, float]] = {
    "bypass": {"buffer_target": 0.5},
    "real": {"buffer_target": 5.0, "max_inflight": 1, "breaker_latency_p95": 30.0},
}


class WorkerSettings(SettingsBase):
    """Stream worker"""

    env_prefix = "WORKER_"
    stream_id: str = Field("", description="Stream id ([A-Za-z0-9_-], 1-64 chars); required by `livedub worker`.")
    input_url: str = Field("", description="rtsp:// (pulled over TCP) or rtmp:// input URL.")
    output_url: str = Field("", description="rtmp:// URL the processed stream is pushed to.")
    sts_mode: StsMode = Field(StsMode.bypass, description="bypass (remux only), mock or real speech-to-speech.")
    source_lang: str = Field("en", description="Language spoken in the input (ISO 639-1), or auto.")
    target_lang: str = Field("es", description="Language of the dub (ISO 639-1).")
    tts_voice: str = Field("", description="Voice profile name (default: the target language's default).")
    fragment_target_dur: Duration = Field(1.5, gt=0, le=10, description="Target audio fragment length.")
    fragment_overlap: Duration = Field(0.0, ge=0, le=0.5, description="Overlap crossfaded between fragments.")
    fragment_min_dur: Duration = Field(
        0.75, gt=0, le=10, description="Shortest fragment cut at a pause (the VAD looks for pauses past this)."
    )
    fragment_max_dur: Duration = Field(
        2.0, gt=0, le=10, description="Longest fragment; without a pause it is cut at the quietest point."
    )
    segment_max_dur: Duration = Field(
        2.5, gt=0, le=30, description="Speech segments (utterances, one STS call each) close at a fragment cut "
        "before a typical fragment would take them past this; lowered to what WORKER_BUFFER_TARGET allows."
    )
    segment_pause: Duration = Field(
        0.3, ge=0, le=5, description="A pause this long at a fragment's end closes the speech segment."
    )
    segment_spill: Duration = Field(
        1.0, ge=0, le=10, description="How far a segment's dub may run on into the non-speech after it."
    )
    quality: Quality = Field(
        Quality.auto, description="Dub quality rung: natural (Kokoro), fast (Pico), fastest (Pico, ducking "
        "instead of separation), or auto: start fastest, step up while the STS has room, down when it falls behind."
    )
    max_inflight: int = Field(
        3, ge=1, le=32, description="Speech segments processed at once. Unset in real mode: 1 (Whisper already "
        "uses every core; two calls at once on 2 cores finish later, bench/live_dub.py)."
    )
    fallback: Fallback = Field(Fallback.pass_through, description="Audio used when a fragment fails.")
    buffer_target: Duration = Field(
        3.0, ge=0, le=60, description="Constant delay added to audio and video (mock mode). Unset: 500ms "
        "for bypass, 5s for real (what 2 CPU cores need, docs/benchmarks.md)."
    )
    input_timeout: Duration = Field(30.0, gt=0, description="How long to wait for the input to appear.")
    input_reconnect: Duration = Field(
        0.0, ge=0, le=3600, description="After the input ends, how long it may take to come back (a publisher "
        "reconnecting) while the worker keeps its models and output; 0: the worker drains and ends. The "
        "orchestrator sets its grace period here for the workers it starts."
    )
    metrics_port: int = _port("Prometheus port of the worker (0: any free port).", 0)
    metrics_host: str = Field(
        "127.0.0.1", description="Address the worker's metrics endpoint binds (0.0.0.0 in containers)."
    )
    run_id: str = Field(
        "",
        description="Stream session id (runId in logs and the run bundle); set by the orchestrator's launcher, "
        "generated when empty.",
    )
    device: Device = Field(Device.auto, description="auto, cpu or cuda (falls back to cpu with a log line).")
    cpu_threads: int = Field(
        0, ge=0, le=256, description="Threads each model may use on the CPU (Whisper, the translator, Kokoro, Piper). "
        "0: all cores but one (at least 1), the one left for the media pipelines: on 2 cores Whisper given both "
        "slows 10x when anything else runs (docs/benchmarks.md, 'Model threads')."
    )
    asr_window: Duration = Field(
        10.0, ge=1, le=30, description="Whisper's encoder window: audio is padded to this instead of Whisper's "
        "30 s (the encoder costs in proportion; 10s is 4x cheaper on 2 cores and hears nearly the same words, "
        "shorter makes Whisper loop). 30s: Whisper's own behaviour."
    )
    asr: str = Field(
        "whisper-base", description="Speech recognizer (`livedub models list`): whisper-base (packaged, offline), "
        "whisper-small/-medium/-large-v3/-large-v3-turbo (download into HF_HOME), or whisper with WORKER_ASR_MODEL."
    )
    asr_model: str = Field("", description="The model of WORKER_ASR=whisper by name (default small).")
    asr_beam: int = Field(1, ge=1, le=10, description="Whisper's beam size (1: greedy, what the live budget affords).")
    asr_compute_type: str = Field(
        "", description="CTranslate2 compute type for Whisper (int8, float16, int8_float16, float32); "
        "empty: int8 on the CPU, float16 on CUDA."
    )
    mt: str = Field(
        "auto", description="Translator: auto (the first of bergamot, apertium for the pair; `livedub dub`: llm "
        "first when installed), or a provider name (apertium, bergamot, llm: the packaged Qwen 1.5B, about 2 s a "
        "sentence on 2 cores; nllb: downloads into HF_HOME)."
    )
    mt_model: str = Field(
        "", description="The model of WORKER_MT=nllb (a CTranslate2 conversion on the Hugging Face hub; "
        "default JustFrederik/nllb-200-distilled-600M-ct2-int8) or WORKER_MT=llm (a GGUF file's path; "
        "default the packaged Qwen2.5-Coder 1.5B Instruct)."
    )
    tts: str = Field(
        "", description="Voice provider (kokoro, pico, piper, coqui); empty: the voice profile's (WORKER_TTS_VOICE)."
    )
    separator: str = Field(
        "auto", description="Speech/background separation: auto (deepfilternet if installed, else duck), "
        "deepfilternet or duck (no model: the original ducked under the dub)."
    )
    glossary: str = Field(
        "", description="Path of a tab-separated glossary (pair, source term, target term; empty target: kept "
        "as it is): names and show vocabulary translated the same way every time, and given to the ASR as "
        "hint words (docs/models.md, 'Glossary')."
    )
    standby: bool = Field(
        False, description="Start without a stream: import the pipeline, load the models, then wait for the "
        "stream's identity as one JSON line on stdin (the launcher's warm worker, ORCH_WARM_WORKERS)."
    )
    output_lead: Duration = Field(
        0.2, ge=0, le=5, description="Output audio is handed to the pipeline this long before it plays."
    )
    deadline_soft_margin: Duration = Field(
        0.5, ge=0, le=10, description="A fragment still in STS this long before its deadline is logged and counted."
    )
    stall_buffer: int = Field(
        6, ge=1, le=256, description="Fragments that may wait for a free STS slot; beyond this the oldest falls back."
    )
    fallback_duck_db: float = Field(
        -12.0, ge=-60, le=0, description="Gain of the original audio in the ducked-original fallback (dB)."
    )
    breaker_failures: int = Field(3, ge=1, le=100, description="Consecutive STS failures that open the breaker.")
    breaker_latency_p95: Duration = Field(
        2.0, gt=0, le=60, description="STS round-trip p95 (last 20 segments) above which the breaker opens. Unset in "
        "real mode: 30s (a slow STS steps the quality down; the breaker is for a broken one)."
    )
    breaker_max_backlog: int = Field(
        8, ge=1, le=512, description="Fragments waiting for or in STS above which the breaker opens."
    )
    breaker_cooldown: Duration = Field(10.0, gt=0, le=3600, description="Open breaker half-opens after this.")
    sts_fault_latency: Duration = Field(
        0.0, ge=0, le=600, description="Fault injection (tests, fire drills): extra latency added to every STS call."
    )
    sts_fault_failure_rate: float = Field(
        0.0, ge=0, le=1, description="Fault injection (tests, fire drills): share of STS calls that fail (0..1)."
    )

    @model_validator(mode="before")
    @classmethod
    def _mode_defaults(cls, data: Any) -> Any:
        """Unset delay, in-flight bound and breaker latency follow WORKER_STS_MODE (MODE_DEFAULTS)."""
        if not isinstance(data, dict):
            return data
        mode = data.get("sts_mode") or StsMode.bypass
        filled = dict(data)
        for field, value in MODE_DEFAULTS.get(mode.value if isinstance(mode, StsMode) else str(mode), {}).items():
            if filled.get(field) in (None, ""):
                filled[field] = value
        return filled

    @field_validator("asr", "mt", "tts", "separator")
    @classmethod
    def _provider(cls, value: str, info) -> str:  # info: pydantic ValidationInfo
        """A provider name the STS registry knows (only what the user set: defaults are not validated)."""
        from livedub.sts.registry import names  # light: the registry imports no model package

        stage = info.field_name  # the setting is named after its stage
        allowed = {"asr": [], "mt": ["auto"], "tts": [""], "separator": ["auto"]}[stage] + names(stage)
        if value not in allowed:
            shown = ", ".join(repr(n) if n == "" else n for n in allowed)
            raise ValueError(f"no {stage} provider named {value!r}; choose one of: {shown}")
        return value

    @field_validator("glossary")
    @classmethod
    def _glossary(cls, value: str) -> str:
        if value:
            from livedub.sts.glossary import Glossary

            Glossary.load(Path(value))  # GlossaryError is a ValueError: reported naming the variable
        return value

    @field_validator("asr_model", "mt_model")
    @classmethod
    def _model_option(cls, value: str, info) -> str:
        """A model option only for the provider that takes one (whisper-small etc. carry their model)."""
        stage, providers = {"asr_model": ("asr", ("whisper",)), "mt_model": ("mt", ("nllb", "llm"))}[info.field_name]
        if value and info.data.get(stage) not in providers:
            raise ValueError(f"WORKER_{info.field_name.upper()} is for WORKER_{stage.upper()}="
                             + " or ".join(providers))
        return value

    @field_validator("stream_id")
    @classmethod
    def _stream_id(cls, value: str) -> str:
        return check_stream_id(value)

    @field_validator("run_id")
    @classmethod
    def _run_id(cls, value: str) -> str:
        if value and not re.fullmatch(RUN_ID_PATTERN, value):
            raise ValueError("run ids use only A-Z, a-z, 0-9, '_', '.' and '-' (1-80 characters)")
        return value

    @field_validator("fragment_max_dur")
    @classmethod
    def _fragment_lengths(cls, value: float, info) -> float:  # info: pydantic ValidationInfo
        # min and target are validated before max (field order), so they are in info.data when valid
        low, target = info.data.get("fragment_min_dur"), info.data.get("fragment_target_dur")
        overlap = info.data.get("fragment_overlap")
        if low is not None and target is not None and not low <= target <= value:
            raise ValueError(
                f"need WORKER_FRAGMENT_MIN_DUR ({low:g}s) <= WORKER_FRAGMENT_TARGET_DUR ({target:g}s) "
                f"<= WORKER_FRAGMENT_MAX_DUR ({value:g}s)"
            )
        if low is not None and overlap is not None and overlap * 2 > low:
            raise ValueError(
                f"WORKER_FRAGMENT_OVERLAP ({overlap:g}s) must be at most half of WORKER_FRAGMENT_MIN_DUR ({low:g}s)"
            )
        return value


class WorkerHostSettings(SettingsBase):
    """Stream-worker host"""

    env_prefix = "WORKER_HOST_"
    http_addr: str = Field(
        "127.0.0.1:8090",
        description="host:port the stream-worker host (`livedub worker-host`) listens on (ORCH_LAUNCHER=host).",
    )
    worker_command: str = Field(
        "",
        description="Command that starts a worker on this host (default: this Python's `livedub worker`).",
    )
    worker_stop_timeout: Duration = Field(10.0, gt=0, description="SIGTERM to SIGKILL delay for workers on this host.")
    warm_workers: int = Field(
        1, ge=0, le=16, description="Standby workers this host keeps started, models loading or loaded, for the "
        "next stream with default settings. 0: a process per start.",
    )

    @field_validator("http_addr")
    @classmethod
    def _addr(cls, value: str) -> str:
        match = _HOST_PORT.fullmatch(value)
        if not match or int(match.group("port")) > 65535:
            raise ValueError("expected host:port, e.g. 127.0.0.1:8090 or 0.0.0.0:8090")
        return value


class EgressSettings(SettingsBase):
    """Egress forwarder"""

    env_prefix = "EGRESS_"
    enabled: bool = Field(False, description="Forward live/<id>/out to EGRESS_URL.")
    url: SecretStr | None = Field(
        None,
        description="Third-party RTMP URL with its stream key (secret). `{streamId}` in it is replaced by the "
        "stream's id (one destination per stream).",
    )
    retry_initial: Duration = Field(1.0, gt=0, description="First retry delay.")
    retry_max: Duration = Field(60.0, gt=0, description="Longest retry delay.")
    forward_command: str = Field(
        "",
        description="Command the orchestrator runs per stream to forward it (default: this Python's `livedub forward`).",
    )
    stream_id: str = Field("", description="Stream whose output `livedub forward` forwards (set by the orchestrator).")
    source_url: str = Field(
        "",
        description="What `livedub forward` pulls: live/<id>/out on the media server, rtmp:// or rtsp:// "
        "(set by the orchestrator).",
    )

    @field_validator("stream_id")
    @classmethod
    def _stream_id(cls, value: str) -> str:
        return check_stream_id(value)

    @field_validator("url")
    @classmethod
    def _rtmp(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not has_scheme(value.get_secret_value(), RTMP_SCHEMES):
            raise ValueError("expected an rtmp:// or rtmps:// URL")
        return value


class PathSettings(SettingsBase):
    """Directories"""

    env_prefix = "LIVEDUB_"
    data_dir: Path = Field(Path("var"), description="Run bundles, logs and demo output live here.")
    recordings_dir: Path = Field(Path("var/recordings"), description="Media server recordings.")
    debug_artifacts: bool = Field(False, description="Write per-fragment audio into run bundles.")
    run_keep: int = Field(20, ge=1, le=10000, description="Run bundles kept per stream (newest first).")
    run_max_age: Duration = Field(7 * 24 * 3600.0, gt=0, description="Run bundles older than this are purged.")
    hf_home: Path = Field(
        Path("var/cache/huggingface"),
        description="Hugging Face cache (translation / ASR models). Safe to delete.",
        json_schema_extra={"env": "HF_HOME"},
    )
    tts_home: Path = Field(
        Path("var/cache/tts"),
        description="TTS model cache (Coqui and packaged voices). Safe to delete.",
        json_schema_extra={"env": "TTS_HOME"},
    )
    model_dir: Path = Field(
        Path("var/cache/models"),
        description="Assembled packaged model files (Whisper, Kokoro). Safe to delete.",
    )


class ModelDownloadSettings(SettingsBase):
    """Model downloads"""

    env_prefix = ""
    hf_hub_offline: bool = Field(
        False,
        description="Never download from the Hugging Face Hub: a model missing from HF_HOME fails at load, "
        "naming the cache (huggingface_hub reads it too).",
        json_schema_extra={"env": "HF_HUB_OFFLINE"},
    )
    coqui_tos_agreed: bool = Field(
        False,
        description="Accept the Coqui Public Model License, which XTTS-v2 needs (livedub never accepts it for you).",
        json_schema_extra={"env": "COQUI_TOS_AGREED"},
    )


# every settings class, in .env.example order: the unknown-variable check and `livedub config` see these
SETTINGS_CLASSES: tuple[type[SettingsBase], ...] = (
    LogSettings,
    MediaSettings,
    OrchestratorSettings,
    WorkerSettings,
    WorkerHostSettings,
    EgressSettings,
    PathSettings,
    ModelDownloadSettings,
)
