"""Typed settings: one loader per process (environment, then CLI overrides), validated at start."""

from livedub.config.durations import format_duration, parse_duration
from livedub.config.loader import (
    SettingsError,
    env_var_name,
    known_env_vars,
    load_settings,
    reject_unknown_env,
)

__all__ = [
    "SettingsError",
    "env_var_name",
    "format_duration",
    "known_env_vars",
    "load_settings",
    "parse_duration",
    "reject_unknown_env",
]
