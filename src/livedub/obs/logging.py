"""JSON-lines logging on stdout with the fields every livedub log line carries.

``component`` and ``instanceId`` are fixed per process by :func:`configure_logging`;
``streamId`` and ``runId`` come from context (:func:`log_context`) or from ``extra=``.
Messages pass through :func:`redact_text`, so a URL with a stream key never reaches a log.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from livedub.config.settings import LogFormat, LogSettings
from livedub.obs.redact import redact_text

# never mutated in place (every change sets a new dict), so one shared empty default is safe
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "livedub_log_context", default=MappingProxyType({}))
_process: dict[str, str] = {"component": "livedub", "instanceId": uuid.uuid4().hex[:12]}

# attributes of a LogRecord that are not user "extra" fields
_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def instance_id() -> str:
    return _process["instanceId"]


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields (e.g. ``streamId``, ``runId``) to every log line emitted inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bind_context(**fields: Any) -> None:
    """Add fields for the rest of this thread/task (use in long-lived processes like a worker)."""
    _context.set({**_context.get(), **fields})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "component": _process["component"],
        "instanceId": _process["instanceId"],
        "logger": record.name,
        "msg": redact_text(record.getMessage()),
    }
    out.update(_context.get())
    for key, value in record.__dict__.items():
        if key not in _RESERVED and not key.startswith("_"):
            out[key] = redact_text(value) if isinstance(value, str) else value
    if record.exc_info:
        out["exc"] = redact_text(logging.Formatter().formatException(record.exc_info))
    return out


def parse_record(line: str, key: str) -> dict[str, Any] | None:
    """One JSON log line read back (a child process's): the record when it has ``key``, else None.
    Most lines do not, so the text is checked for the quoted key before it is parsed."""
    if f'"{key}"' not in line:
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and key in record else None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    _skip = ("ts", "level", "component", "instanceId", "logger", "msg", "exc")

    def format(self, record: logging.LogRecord) -> str:
        data = _fields(record)
        extras = " ".join(f"{k}={v}" for k, v in data.items() if k not in self._skip)
        line = f"{data['ts'][11:23]} {data['level']:<7} {data['component']}: {data['msg']}"
        if extras:
            line += f"  [{extras}]"
        if "exc" in data:
            line += "\n" + data["exc"]
        return line


def configure_logging(settings: LogSettings, component: str, stream: Any = None) -> None:
    """Set up the root logger once per process. ``stream`` defaults to stdout."""
    _process["component"] = component
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter() if settings.format == LogFormat.json else ConsoleFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level.value)
    # uvicorn's access log is per request; keep it at warning so logs stay per state change
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx logs every request at info; our own code logs what matters
    logging.getLogger("httpx").setLevel(logging.WARNING)
