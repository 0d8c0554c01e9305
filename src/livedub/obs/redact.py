"""Keep stream keys out of logs, errors and run bundles."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL = re.compile(r"\b(rtmps?|rtsps?|srt|https?)://[^\s'\"]+")


def redact_url(url: str) -> str:
    """``rtmp://a.rtmp.youtube.com/live2/abcd-efgh`` -> ``rtmp://a.rtmp.youtube.com/live2/***``.

    Credentials, query strings and the last path segment (where RTMP services put the stream key)
    are replaced; the last-segment rule applies to RTMP/SRT only (HTTP paths hold no keys). Local livedub paths (``live/<id>/in``/``out``) carry no key and are kept.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username or parts.password:
        netloc = f"***@{netloc}"
    path = parts.path
    segments = path.split("/")
    streaming = parts.scheme.lower() in ("rtmp", "rtmps", "srt")
    # the key is the last non-empty segment (a trailing slash must not hide it)
    filled = [i for i, segment in enumerate(segments) if segment]
    if streaming and len(filled) >= 2 and segments[filled[-1]] not in ("in", "out"):
        segments[filled[-1]] = "***"
        path = "/".join(segments)
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def redact_text(text: str) -> str:
    """Redact every URL inside free text (error messages, subprocess output)."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)
