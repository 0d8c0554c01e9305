"""Exit codes are an interface (the orchestrator and operators read them): they never change meaning."""

from __future__ import annotations

import pytest

from livedub.cli.common import EXIT_CONFIG
from livedub.proc.exit_codes import ExitCode, describe, is_retryable


@pytest.mark.parametrize(("code", "value", "retryable"), [
    (ExitCode.OK, 0, False),
    (ExitCode.PIPELINE_ERROR, 1, True),
    (ExitCode.CONFIG, 2, False),
    (ExitCode.INPUT_UNAVAILABLE, 3, True),
    (ExitCode.UNSUPPORTED_INPUT, 4, False),
    (ExitCode.MISSING_DEPENDENCY, 5, False),
])
def test_exit_codes_are_stable(code: ExitCode, value: int, retryable: bool) -> None:
    assert int(code) == value
    assert is_retryable(value) is retryable


def test_config_code_is_the_one_every_command_uses() -> None:
    assert ExitCode.CONFIG == EXIT_CONFIG


def test_describe_names_codes() -> None:
    assert describe(4) == "unsupported-input"
    assert describe(99) == "unknown (99)"
