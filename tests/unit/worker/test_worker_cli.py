"""`livedub worker` refuses bad settings before touching the network, with exit code 2."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from livedub.cli.main import cli

GOOD = ["--stream-id", "abc", "--input-url", "rtmp://127.0.0.1:1/live/abc/in",
        "--output-url", "rtmp://127.0.0.1:1/live/abc/out"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("WORKER_", "LOG_")):
            monkeypatch.delenv(name)


def run(*args: str):
    return CliRunner().invoke(cli, ["worker", *args])


def test_worker_is_a_real_command() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "not built yet" not in result.output
    assert "--buffer-target" in result.output


def test_missing_settings_are_named() -> None:
    result = run()
    assert result.exit_code == 2
    assert "WORKER_STREAM_ID" in result.output and "WORKER_INPUT_URL" in result.output


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--input-url", "http://example.com/live/abc/in", "invalid WORKER_INPUT_URL"),
    ("--output-url", "rtmp://example.com/onlyapp", "invalid worker URL"),
    ("--stream-id", "a/b", "invalid --stream-id"),
    ("--buffer-target", "soon", "invalid --buffer-target"),
])
def test_invalid_settings_exit_2(flag: str, value: str, message: str) -> None:
    args = list(GOOD)
    if flag in args:
        args[args.index(flag) + 1] = value
    result = run(*args, flag, value)
    assert result.exit_code == 2
    assert message in result.output


def test_an_sts_mode_without_audio_path_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(*GOOD, "--sts-mode", "mock")
    assert result.exit_code == 2
    assert "WORKER_STS_MODE=mock is not built yet" in result.output
