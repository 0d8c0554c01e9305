"""Per-stream worker settings from the ingest query (``rtmp://.../live/<id>/in?lang=es&voice=ef_dora``).

Bad settings never break ingest: every parameter is validated on its own; an invalid or unknown
one is reported as a warning and the default is used instead. Values of unknown parameters are
never logged (a query may carry credentials, e.g. MediaMTX ``user``/``pass`` or ``jwt``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from pydantic import ValidationError

from livedub.config import SettingsError, load_settings
from livedub.config.settings import WorkerSettings

MAX_QUERY_CHARS = 2048

# query parameter -> WorkerSettings field
QUERY_PARAMS: dict[str, str] = {
    "lang": "target_lang",
    "src": "source_lang",
    "voice": "tts_voice",
    "mode": "sts_mode",
    "fallback": "fallback",
}

_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_VOICE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# parameters publishers or MediaMTX auth put in the query; ignored without a warning
_IGNORED = {"user", "pass", "jwt", "token", "key"}


def _check_value(param: str, value: str) -> str | None:
    """Extra rules the settings class does not enforce (free-text fields); returns a problem or None."""
    if param == "lang" and not _LANG.fullmatch(value):
        return "expected an ISO 639 language code such as es, fr or pt-BR"
    if param == "src" and value != "auto" and not _LANG.fullmatch(value):
        return "expected an ISO 639 language code or auto"
    if param == "voice" and not _VOICE.fullmatch(value):
        return "expected a voice name of letters, digits, '_', '.' or '-' (1-64 characters)"
    return None


@dataclass(frozen=True)
class StreamSettings:
    """What a stream's worker is started with: the overrides from its query, already validated."""

    overrides: Mapping[str, str] = field(default_factory=dict)  # WorkerSettings field -> value
    warnings: tuple[str, ...] = ()

    def worker_env(self) -> dict[str, str]:
        """``WORKER_*`` variables for the worker process."""
        return {f"{WorkerSettings.env_prefix}{name.upper()}": value for name, value in self.overrides.items()}

    def public(self) -> dict[str, str]:
        """Query-parameter view for the API (``{"lang": "es"}``)."""
        by_field = {v: k for k, v in QUERY_PARAMS.items()}
        return {by_field[name]: value for name, value in self.overrides.items()}


DEFAULT_SETTINGS = StreamSettings()


def parse_stream_query(query: str, base_env: Mapping[str, str] | None = None) -> StreamSettings:
    """Validate the ingest query against :class:`WorkerSettings` (on top of ``base_env``).

    ``base_env`` is the environment workers inherit (e.g. a global ``WORKER_STS_MODE``); each
    override is checked together with it so the combination the worker will load is valid.
    """
    warnings: list[str] = []
    if len(query) > MAX_QUERY_CHARS:
        return StreamSettings({}, (f"query longer than {MAX_QUERY_CHARS} characters ignored",))
    overrides: dict[str, str] = {}
    seen: set[str] = set()
    base = {k: v for k, v in (base_env or {}).items() if k.startswith(WorkerSettings.env_prefix)}
    for param, value in parse_qsl(query.lstrip("?"), keep_blank_values=True):
        key = param.strip().lower()
        if key in _IGNORED:
            continue
        if key not in QUERY_PARAMS:
            shown = key if re.fullmatch(r"[a-z0-9_-]{1,32}", key) else "(unprintable)"
            warnings.append(f"unknown query parameter {shown!r} ignored (known: {', '.join(QUERY_PARAMS)})")
            continue
        if key in seen:
            warnings.append(f"query parameter {key!r} given more than once; the first value is used")
            continue
        seen.add(key)
        value = value.strip()
        problem = _check_value(key, value) if value else "empty value"
        if problem is None:
            problem = _validate_field(QUERY_PARAMS[key], value, base)
        if problem is not None:
            warnings.append(f"invalid {key}={_short(value)!r}: {problem}; using the default")
            continue
        overrides[QUERY_PARAMS[key]] = value
    return StreamSettings(overrides, tuple(warnings))


def _validate_field(field_name: str, value: str, base_env: Mapping[str, str]) -> str | None:
    env = dict(base_env)
    env[f"{WorkerSettings.env_prefix}{field_name.upper()}"] = value
    try:
        load_settings(WorkerSettings, env=env)
    except SettingsError as exc:
        # only this field's problem counts; a broken global WORKER_* is the worker's to report
        message = str(exc)
        var = f"{WorkerSettings.env_prefix}{field_name.upper()}"
        parts = [p for p in message.split("; ") if var in p]
        if parts:
            return parts[0].split(": ", 1)[-1]
    except ValidationError as exc:  # pragma: no cover - load_settings converts these
        return str(exc)
    return None


def _short(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[:limit] + "..."
