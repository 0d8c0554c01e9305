"""The one settings loader: defaults -> environment -> CLI overrides -> validation.

Every settings class is listed in ``SETTINGS_CLASSES`` (settings.py) and declares an ``env_prefix``; a field ``max_inflight`` of ``WorkerSettings``
is read from ``WORKER_MAX_INFLIGHT`` unless the field names its own variable
(``json_schema_extra={"env": "HF_HOME"}``). Variables in our families that no class declares are
rejected, so a typo (``WORKER_MAX_INFLIHGT``) fails loudly instead of being ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

# Prefixes that belong to livedub. Any variable starting with one of these must be known.
FAMILIES: tuple[str, ...] = ("LIVEDUB_", "LOG_", "ORCH_", "WORKER_", "EGRESS_", "MEDIA_")


class SettingsError(Exception):
    """Invalid or unknown configuration. The message names the variable; it never holds a secret."""


class SettingsBase(BaseModel):
    """Base of every settings class. Immutable, no unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
    env_prefix: ClassVar[str] = ""


S = TypeVar("S", bound=SettingsBase)


def env_var_name(cls: type[SettingsBase], field: str) -> str:
    info = cls.model_fields[field]
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    explicit = extra.get("env")
    return str(explicit) if explicit else f"{cls.env_prefix}{field.upper()}"


@dataclass(frozen=True)
class EnvVarDoc:
    name: str
    default: str
    description: str
    secret: bool
    section: str


def _render_default(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def known_env_vars() -> list[EnvVarDoc]:
    """Every variable any settings class reads, with its default rendered as an env value."""
    docs: list[EnvVarDoc] = []
    for cls in _concrete_classes():
        defaults = cls.model_construct().model_dump(mode="json")
        for field, info in cls.model_fields.items():
            docs.append(
                EnvVarDoc(
                    name=env_var_name(cls, field),
                    default=_render_default(defaults.get(field)),
                    description=(info.description or "").strip(),
                    secret=info.annotation in (SecretStr, SecretStr | None),
                    section=(cls.__doc__ or cls.__name__).strip().splitlines()[0],
                )
            )
    return docs


def _concrete_classes() -> tuple[type[SettingsBase], ...]:
    # imported here: settings.py imports this module for SettingsBase
    from livedub.config.settings import SETTINGS_CLASSES

    return SETTINGS_CLASSES


def reject_unknown_env(env: Mapping[str, str] | None = None) -> None:
    """Raise if a variable in one of our families is not read by any settings class."""
    env = os.environ if env is None else env
    known = {doc.name for doc in known_env_vars()}
    unknown = sorted(name for name in env if name.startswith(FAMILIES) and name not in known)
    if unknown:
        hint = ", ".join(unknown)
        raise SettingsError(
            f"unknown setting(s): {hint}. Known variables are listed in .env.example "
            "(or run `livedub config`)."
        )


def load_settings(
    cls: type[S],
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> S:
    """Build ``cls`` from the environment, then ``overrides`` (CLI flags; ``None`` values ignored)."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for field in cls.model_fields:
        name = env_var_name(cls, field)
        if name in env and env[name] != "":
            data[field] = env[name]
            sources[field] = name
    for field, value in (overrides or {}).items():
        if value is None:
            continue
        if field not in cls.model_fields:
            raise SettingsError(f"internal: {cls.__name__} has no setting {field!r}")
        data[field] = value
        sources[field] = "--" + field.replace("_", "-")
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_describe(cls, exc, data, sources)) from None


def _describe(
    cls: type[SettingsBase], exc: ValidationError, data: Mapping[str, Any], sources: Mapping[str, str]
) -> str:
    lines: list[str] = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        if field in cls.model_fields:
            var = env_var_name(cls, field)
            where = sources.get(field, var)
            origin = var if where == var else f"{where} (setting {var})"
            if _is_secret(cls, field) or field not in data:
                shown = ""
            else:
                shown = f"={data[field]!r}"
            lines.append(f"invalid {origin}{shown}: {_clean(err['msg'])}")
        else:
            lines.append(f"invalid {cls.__name__}: {_clean(err['msg'])}")
    return "; ".join(lines)


def _clean(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def _is_secret(cls: type[SettingsBase], field: str) -> bool:
    return cls.model_fields[field].annotation in (SecretStr, SecretStr | None)


def iter_settings_classes() -> Iterable[type[SettingsBase]]:
    return _concrete_classes()


def is_set_in_env(cls: type[SettingsBase], field: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether the user set this field's variable (for commands whose default differs, like `dub`)."""
    env = os.environ if env is None else env
    return bool(env.get(env_var_name(cls, field)))
