"""Per-stream publish keys (ORCH_PUBLISH_KEYS_FILE): who may publish ``live/<id>/in``.

One key per line, ``#`` comments; ``*`` is a key valid for every stream::

    # stream id   key
    cam1          3f9c2a...
    *             0b1d77...

A publisher sends its key in the stream key's query: OBS "Stream Key" ``cam1/in?key=3f9c2a...``, or
``rtmp://host/live/cam1/in?key=3f9c2a...``. With a keys file, the orchestrator refuses a ``ready``
event whose key is missing or wrong (403: nginx's ``on_publish`` then drops the publisher), and
answers MediaMTX's HTTP authentication (``authMethod: http``) the same way, before the publisher
is accepted. Keys are compared in constant time and never logged. The file is read again when it
changes, so keys rotate without a restart.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from livedub.config.settings import STREAM_ID_PATTERN

log = logging.getLogger(__name__)

ANY_STREAM = "*"
KEY_PARAM = "key"
_KEY = re.compile(r"[A-Za-z0-9._~-]{16,256}")


class PublishKeysError(ValueError):
    """The keys file cannot be used; the message names the line (never a key)."""


def parse_keys(text: str, origin: str = "keys") -> dict[str, tuple[str, ...]]:
    keys: dict[str, list[str]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise PublishKeysError(f"{origin}:{number}: expected '<stream id or *> <key>'")
        stream_id, key = parts
        if stream_id != ANY_STREAM and not re.fullmatch(STREAM_ID_PATTERN, stream_id):
            raise PublishKeysError(f"{origin}:{number}: {stream_id[:64]!r} is not a stream id ([A-Za-z0-9_-]{{1,64}}) or *")
        if not _KEY.fullmatch(key):
            raise PublishKeysError(f"{origin}:{number}: a key is 16-256 characters of A-Z a-z 0-9 . _ ~ - "
                                   "(generate one with `openssl rand -hex 24`)")
        keys.setdefault(stream_id, []).append(key)
    return {stream_id: tuple(found) for stream_id, found in keys.items()}


def load_keys(path: Path) -> dict[str, tuple[str, ...]]:
    try:
        return parse_keys(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise PublishKeysError(f"cannot read {path}: {type(exc).__name__}") from None


def key_from_query(query: str) -> str:
    for name, value in parse_qsl(query.lstrip("?"), keep_blank_values=True):
        if name.strip().lower() == KEY_PARAM:
            return value.strip()
    return ""


@dataclass
class _Loaded:
    mtime_ns: int
    keys: dict[str, tuple[str, ...]]


class PublishKeys:
    """The keys file, read again when its modification time changes. A file that became unreadable
    or invalid keeps the keys last loaded (logged), so a bad edit does not open or close every stream."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._loaded = _Loaded(os.stat(path).st_mtime_ns, load_keys(path))

    def _current(self) -> dict[str, tuple[str, ...]]:
        with self._lock:
            try:
                mtime = os.stat(self.path).st_mtime_ns
                if mtime != self._loaded.mtime_ns:
                    self._loaded = _Loaded(mtime, load_keys(self.path))
                    log.info("publish keys reloaded", extra={"path": str(self.path)})
            except (OSError, PublishKeysError) as exc:
                log.error("publish keys file unusable; keeping the keys loaded before",
                          extra={"path": str(self.path), "error": str(exc)})
            return self._loaded.keys

    def allows(self, stream_id: str, query: str) -> bool:
        """Whether the query's ``key`` is one of ``stream_id``'s keys (or a ``*`` key)."""
        given = key_from_query(query).encode()
        keys = self._current()
        candidates = (*keys.get(stream_id, ()), *keys.get(ANY_STREAM, ()))
        matched = False
        for key in candidates:  # every candidate compared: the time taken says nothing about which
            matched |= bool(given) and hmac.compare_digest(given, key.encode())
        return matched
