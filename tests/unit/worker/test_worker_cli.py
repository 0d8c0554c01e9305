"""`livedub worker` refuses bad settings before touching the network, with exit code 2."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from livedub.cli.main import cli
from tests.require import missing

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


def test_an_invalid_run_id_exits_2() -> None:
    result = run(*GOOD, "--run-id", "../etc")
    assert result.exit_code == 2
    assert "run ids use only" in result.output


def _needs_gstreamer() -> None:
    from livedub.gst import GstUnavailable, require_gst

    try:
        require_gst()
    except GstUnavailable as exc:
        missing(str(exc))


def test_dubbing_with_a_delay_shorter_than_a_fragment_exits_2_before_loading_models(tmp_path) -> None:
    _needs_gstreamer()
    result = CliRunner().invoke(cli, ["worker", *GOOD, "--sts-mode", "real", "--buffer-target", "1s"],
                                env={"LIVEDUB_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2, result.output
    assert "WORKER_BUFFER_TARGET must exceed" in result.output


def test_a_missing_model_exits_2_with_the_fix(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    _needs_gstreamer()
    from dataclasses import replace

    from livedub.sts import registry

    key = (registry.Stage.asr, "whisper-base")
    monkeypatch.setitem(registry._BY_KEY, key, replace(registry._BY_KEY[key], modules=("livedub_no_such_model",)))
    result = CliRunner().invoke(cli, ["worker", *GOOD, "--sts-mode", "real", "--buffer-target", "6s"],
                                env={"LIVEDUB_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2, result.output
    assert "livedub_no_such_model not installed" in result.output and "install.sh --models" in result.output


def test_a_standby_that_is_not_needed_exits_0_when_stdin_closes() -> None:
    _needs_gstreamer()
    result = CliRunner().invoke(cli, ["worker", "--standby", "--sts-mode", "bypass"], input="")
    assert result.exit_code == 0, result.output


def _assignment(**fields: str) -> str:
    import json

    return json.dumps({"stream_id": "abc", "input_url": "rtmp://127.0.0.1:1/live/abc/in",
                       "output_url": "rtmp://127.0.0.1:1/live/abc/out", "run_id": "r1", **fields}) + "\n"


@pytest.mark.parametrize(("line", "message"), [
    ("hello\n", "assignment is not JSON"),
    ('{"stream_id": "abc"}\n', "exactly input_url, output_url, run_id, stream_id"),
    (_assignment(stream_id="a/b"), "invalid --stream-id"),
    (_assignment(input_url="http://x/live/abc/in"), "invalid WORKER_INPUT_URL"),
])
def test_a_standby_refuses_a_bad_assignment_with_exit_2(line: str, message: str) -> None:
    _needs_gstreamer()
    result = CliRunner().invoke(cli, ["worker", "--standby", "--sts-mode", "bypass"], input=line)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_standby_with_settings_its_mode_refuses_exits_2_before_waiting(tmp_path) -> None:
    _needs_gstreamer()
    result = CliRunner().invoke(cli, ["worker", "--standby", "--sts-mode", "real", "--buffer-target", "1s"],
                                env={"LIVEDUB_DATA_DIR": str(tmp_path)}, input="")
    assert result.exit_code == 2, result.output
    assert "WORKER_BUFFER_TARGET must exceed" in result.output
