"""The path convention shared by every backend: ``live/<streamId>/in`` and ``live/<streamId>/out``."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

APPLICATION = "live"
STREAM_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_INGEST_RE = re.compile(r"^live/(?P<id>[^/]+)/in$")


class InvalidPath(ValueError):
    """A path that is not ``live/<streamId>/in`` with a valid stream id."""


def ingest_path(stream_id: str) -> str:
    return f"{APPLICATION}/{stream_id}/in"


def output_path(stream_id: str) -> str:
    return f"{APPLICATION}/{stream_id}/out"


def stream_id_from_ingest_path(path: str) -> str:
    """``live/abc/in`` -> ``abc``; anything else raises :class:`InvalidPath` with a clear reason."""
    match = _INGEST_RE.fullmatch(path.strip("/"))
    if not match:
        raise InvalidPath(f"path {path!r} is not of the form live/<streamId>/in")
    stream_id = match.group("id")
    if not STREAM_ID_RE.fullmatch(stream_id):
        raise InvalidPath(f"stream id {stream_id!r} must match [A-Za-z0-9_-]{{1,64}}")
    return stream_id


RTMP_SCHEMES = ("rtmp", "rtmps")  # what a worker or forwarder can push to
SOURCE_SCHEMES = (*RTMP_SCHEMES, "rtsp", "rtsps")  # what a worker or forwarder can read from


def url_scheme(url: str) -> str:
    """The URL's scheme in lower case; empty when it has none."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def has_scheme(url: str, schemes: tuple[str, ...]) -> bool:
    """Whether the URL starts with ``<scheme>://`` for one of ``schemes`` (case-insensitive)."""
    return url_scheme(url) in schemes


def source_scheme(url: str) -> str:
    """The scheme of a URL livedub reads a stream from; ValueError unless rtmp[s] or rtsp[s]."""
    scheme = url_scheme(url)
    if scheme not in SOURCE_SCHEMES:
        raise ValueError("the URL must start with rtmp://, rtmps://, rtsp:// or rtsps://")
    return scheme


@dataclass(frozen=True)
class RtmpTarget:
    """An RTMP endpoint split the way servers see it: application + stream key."""

    host: str
    port: int
    application: str
    stream: str
    scheme: str = "rtmp"  # or rtmps

    @property
    def url(self) -> str:
        """``rtmp://host:port/app/stream``: works on MediaMTX; on nginx-rtmp see ``ffmpeg_url``."""
        return f"rtmp://{self.host}:{self.port}/{self.application}/{self.stream}"

    @property
    def ffmpeg_url(self) -> str:
        """A URL ffmpeg splits correctly on every backend (the empty segment ends the application)."""
        return f"rtmp://{self.host}:{self.port}/{self.application}//{self.stream}"


def parse_rtmp_url(url: str) -> RtmpTarget:
    """Split ``rtmp://host[:port]/app/key/with/slashes`` into application ``app`` + key.

    The first path segment is the application, the rest (slashes included) the stream key: the
    way OBS publishes (server ``rtmp://host/live``, key ``<id>/in``), accepted by both backends.
    An empty segment after the application (``live//id/in``) is tolerated.
    """
    parts = urlsplit(url)
    if parts.scheme not in RTMP_SCHEMES or not parts.hostname:
        raise ValueError("expected rtmp://host[:port]/<application>/<stream key>")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2:
        raise ValueError("an RTMP URL needs an application and a stream key")
    stream = "/".join(segments[1:])
    if parts.query:
        stream += "?" + parts.query
    return RtmpTarget(parts.hostname, parts.port or 1935, segments[0], stream, parts.scheme)


def peer_address(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A client address as a media server reports it (``127.0.0.1``, ``[::1]``, ``::ffff:10.0.0.5``),
    an IPv4-mapped IPv6 address as its IPv4 one; None when it is missing or not an address."""
    try:
        ip = ipaddress.ip_address(addr.strip().strip("[]"))
    except ValueError:
        return None
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return mapped or ip
