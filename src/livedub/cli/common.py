"""What every command does first: check the environment, load settings, set up logging."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

import click

from livedub.config import SettingsError, load_settings, reject_unknown_env
from livedub.config.loader import SettingsBase
from livedub.config.settings import LogSettings
from livedub.obs.logging import configure_logging

S = TypeVar("S", bound=SettingsBase)

EXIT_CONFIG = 2  # invalid or unknown settings (same code click uses for usage errors)
EXIT_RUNTIME = 1  # a service that started but could not keep running (port taken, server error)


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    click.echo(f"livedub: error: {message}", err=True)
    sys.exit(code)


def settings_or_exit(cls: type[S], overrides: Mapping[str, Any] | None = None) -> S:
    """Load one settings family; on any invalid or unknown variable print it and exit 2."""
    try:
        reject_unknown_env()
        return load_settings(cls, overrides=overrides)
    except SettingsError as exc:
        fail(str(exc))


def start_command(component: str, log_overrides: Mapping[str, Any] | None = None) -> LogSettings:
    """Validate the environment and configure logging for a long-running command."""
    log = settings_or_exit(LogSettings, log_overrides)
    configure_logging(log, component)
    return log
