"""The media server interface. The orchestrator and CLI never care which backend runs."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from typing_extensions import Self

from livedub.media.paths import RtmpTarget, ingest_path, output_path


@dataclass(frozen=True)
class HookTarget:
    """Where a backend sends ``ready``/``not-ready`` events: the orchestrator's base URL, and the
    shared hook token (``ORCH_HOOK_TOKEN``) they carry; empty when the orchestrator has none."""

    orchestrator_url: str
    token: str = field(default="", repr=False)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def ready_url(self) -> str:
        return self.orchestrator_url.rstrip("/") + "/v1/mediamtx/events/ready"

    @property
    def not_ready_url(self) -> str:
        return self.orchestrator_url.rstrip("/") + "/v1/mediamtx/events/not-ready"


def host_addresses(host: str) -> set[str]:
    """The IP addresses ``host`` (``MEDIA_HOST``) resolves to: what this machine's workers connect from
    when they reach the media server through it. Empty when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return set()
    addresses = set()
    for info in infos:
        try:  # scoped IPv6 (fe80::1%eth0) cannot be written in an allowlist
            addresses.add(str(ipaddress.ip_address(str(info[4][0]))))
        except ValueError:
            continue
    return addresses


class MediaServerError(RuntimeError):
    """The media server could not start, or stopped answering."""


class MediaServer(ABC):
    """A running (or runnable) media server. Paths follow ``live/<id>/in`` and ``live/<id>/out``."""

    name: str = "abstract"
    # after a publish hook, how long this server may still not list the publisher (reconciliation
    # must not take a stream that is being held for an orphan)
    publish_settle_s: float = 0.0

    def __init__(self, host: str, rtmp_port: int) -> None:
        self.host = host
        self.rtmp_port = rtmp_port
        self._proc: subprocess.Popen[bytes] | None = None  # the child process, while started

    # -- lifecycle ------------------------------------------------------------------------
    @abstractmethod
    def start(self, hooks: HookTarget | None) -> None:
        """Start as a child process; returns once clients can connect. Hooks go to ``hooks``."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the child process (idempotent)."""

    def exit_code(self) -> int | None:
        """The media server process's exit code once it has ended by itself; None while it runs or
        when it is not started (``livedub up`` restarts a media server that died)."""
        return None if self._proc is None else self._proc.poll()

    @abstractmethod
    def path_is_live(self, path: str) -> bool:
        """Whether ``path`` (e.g. ``live/<id>/out``) is being published right now."""

    @abstractmethod
    def list_live_ingest(self) -> set[str]:
        """Stream ids whose ``live/<id>/in`` is being published right now (for reconciliation)."""

    # -- addressing -----------------------------------------------------------------------
    def ingest(self, stream_id: str) -> RtmpTarget:
        """Where a publisher sends ``live/<id>/in`` (OBS: server ``rtmp://host:port/live``, key ``<id>/in``)."""
        app, key = ingest_path(stream_id).split("/", 1)
        return RtmpTarget(self.host, self.rtmp_port, app, key)

    def output(self, stream_id: str) -> RtmpTarget:
        app, key = output_path(stream_id).split("/", 1)
        return RtmpTarget(self.host, self.rtmp_port, app, key)

    def worker_input_url(self, stream_id: str) -> str:
        """What a worker pulls. RTMP by default; MediaMTX overrides with RTSP over TCP."""
        return self.ingest(stream_id).url

    def worker_output_url(self, stream_id: str) -> str:
        return self.output(stream_id).url

    def egress_source_url(self, stream_id: str) -> str:
        """What an egress forwarder pulls (``live/<id>/out``). RTMP by default; MediaMTX: RTSP over TCP."""
        return self.output(stream_id).url

    def watch_urls(self, stream_id: str) -> dict[str, str]:
        """Ways a person can watch the dubbed output, by protocol."""
        return {"rtmp": self.output(stream_id).ffmpeg_url}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
