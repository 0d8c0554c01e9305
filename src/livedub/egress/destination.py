"""The third-party destination (``EGRESS_URL``) and keeping its stream key out of every output.

The key is a secret: it never appears in an argv (``ps``), a log line or an error message. It is
handed to GStreamer as element properties, and every text the forwarder emits passes through a
:class:`Scrubber` that knows the literal secret strings (a key outside a URL, as a GStreamer error
might quote it, is not something URL redaction alone would catch).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from livedub.media.paths import RTMP_SCHEMES
from livedub.obs.redact import redact_text

STREAM_ID_PLACEHOLDER = "{streamId}"
MIN_SECRET_CHARS = 3  # shorter strings would blank out ordinary words


@dataclass(frozen=True)
class Destination:
    """An RTMP(S) endpoint the way ``rtmp2sink`` takes it: application + stream key (+ credentials)."""

    scheme: str
    host: str
    port: int
    application: str
    stream: str = field(repr=False)
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @property
    def safe(self) -> str:
        """For logs: everything but the key and the credentials."""
        who = "***@" if self.username or self.password else ""
        return f"{self.scheme}://{who}{self.host}:{self.port}/{self.application}/***"

    def secrets(self) -> tuple[str, ...]:
        parts = [self.stream, self.stream.split("?", 1)[0], self.password, self.username]
        return tuple(p for p in parts if len(p) >= MIN_SECRET_CHARS)

    def __str__(self) -> str:
        return self.safe


def parse_destination(url: str, stream_id: str = "") -> Destination:
    """``rtmp[s]://[user:pass@]host[:port]/<application...>/<key>`` -> :class:`Destination`.

    The last path segment is the stream key and the rest the application, the way third parties
    give their URLs (YouTube ``/live2/<key>``, Wowza ``/app/_definst_/<key>``). ``{streamId}`` is
    replaced first. Errors say what is wrong without repeating the URL.
    """
    url = url.replace(STREAM_ID_PLACEHOLDER, stream_id)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("EGRESS_URL is not a valid URL (expected rtmp://host[:port]/<app>/<key>)") from None
    if parts.scheme not in RTMP_SCHEMES:
        raise ValueError("EGRESS_URL must start with rtmp:// or rtmps://")
    if not parts.hostname:
        raise ValueError("EGRESS_URL has no host (expected rtmp://host[:port]/<app>/<key>)")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2:
        raise ValueError("EGRESS_URL needs an application and a stream key (rtmp://host[:port]/<app>/<key>)")
    stream = segments[-1] + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, parts.hostname, port or (443 if parts.scheme == "rtmps" else 1935),
                       "/".join(segments[:-1]), stream, unquote(parts.username or ""),
                       unquote(parts.password or ""))


class Scrubber:
    """Removes URLs' keys and the literal secrets from any text."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        # longest first, so a key is not half-replaced by a shorter secret inside it
        self.secrets = tuple(sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return redact_text(text)


def destination_scrubber(url: str, stream_id: str = "") -> Scrubber:
    """A :class:`Scrubber` for one stream's destination: the URL as configured and its key and
    credentials once ``{streamId}`` is replaced (what that stream's forwarder sends to)."""
    secrets = [url, url.replace(STREAM_ID_PLACEHOLDER, stream_id)]
    try:
        secrets.extend(parse_destination(url, stream_id).secrets())
    except ValueError:
        pass  # the forwarder refuses such a URL and says why; the URL itself is still scrubbed
    return Scrubber(tuple(secrets))


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs the message and string fields of every record (defence in depth)."""

    def __init__(self, scrub: Scrubber) -> None:
        super().__init__()
        self.scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in ("msg", "name", "levelname", "pathname", "filename",
                                                      "module", "funcName", "threadName", "processName"):
                record.__dict__[key] = self.scrub(value)
        if record.exc_info:  # formatters render exc_info themselves: fold it in, scrubbed
            record.msg += "\n" + self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.exc_text = None
        return True

    def install(self) -> None:
        """On every handler of the root logger (logger-level filters miss records from child loggers)."""
        for handler in logging.getLogger().handlers:
            handler.addFilter(self)
