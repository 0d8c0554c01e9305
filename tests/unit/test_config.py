"""Settings: valid, invalid, unknown and secret values; CLI overrides; .env.example in sync."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from livedub.config import SettingsError, format_duration, load_settings, parse_duration, reject_unknown_env
from livedub.config.env_example import render_env_example
from livedub.config.settings import (
    EgressSettings,
    Fallback,
    LogLevel,
    OrchestratorSettings,
    StsMode,
    WorkerSettings,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("30s", 30.0), ("1m30s", 90.0), ("2h", 7200.0), ("1.5s", 1.5), ("0", 0.0), ("500us", 0.0005)],
)
def test_parse_duration_accepts_go_style(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "banana", "10 s", "s", "1x", "", "1m30"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(0.25, "250ms"), (30.0, "30s"), (600.0, "10m"), (1.5, "1.5s")])
def test_format_duration_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


def test_defaults_without_environment() -> None:
    worker = load_settings(WorkerSettings, env={})
    assert worker.max_inflight == 3
    assert worker.sts_mode is StsMode.bypass
    assert worker.fallback is Fallback.pass_through
    assert load_settings(OrchestratorSettings, env={}).grace_period == 30.0


def test_environment_values_are_typed() -> None:
    env = {"WORKER_MAX_INFLIGHT": "5", "WORKER_BUFFER_TARGET": "4500ms", "WORKER_STS_MODE": "mock",
           "WORKER_FALLBACK": "silence", "WORKER_STREAM_ID": "my-stream_1"}
    worker = load_settings(WorkerSettings, env=env)
    assert (worker.max_inflight, worker.buffer_target, worker.sts_mode, worker.fallback) == (
        5, 4.5, StsMode.mock, Fallback.silence)
    assert worker.stream_id == "my-stream_1"


def test_cli_overrides_beat_environment_and_none_is_ignored() -> None:
    worker = load_settings(WorkerSettings, env={"WORKER_MAX_INFLIGHT": "5"},
                           overrides={"max_inflight": 2, "target_lang": None})
    assert worker.max_inflight == 2
    assert worker.target_lang == "es"


@pytest.mark.parametrize(
    ("cls", "env", "named"),
    [
        (WorkerSettings, {"WORKER_MAX_INFLIGHT": "banana"}, "WORKER_MAX_INFLIGHT='banana'"),
        (WorkerSettings, {"WORKER_MAX_INFLIGHT": "0"}, "WORKER_MAX_INFLIGHT"),
        (WorkerSettings, {"WORKER_STS_MODE": "magic"}, "WORKER_STS_MODE"),
        (WorkerSettings, {"WORKER_STREAM_ID": "../etc"}, "WORKER_STREAM_ID"),
        (WorkerSettings, {"WORKER_STREAM_ID": "a b"}, "WORKER_STREAM_ID"),
        (OrchestratorSettings, {"ORCH_GRACE_PERIOD": "5"}, "ORCH_GRACE_PERIOD"),
        (OrchestratorSettings, {"ORCH_HTTP_ADDR": "nowhere"}, "ORCH_HTTP_ADDR"),
    ],
)
def test_invalid_values_name_the_variable(cls: type, env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(cls, env=env)
    assert named in str(info.value)


def test_invalid_cli_flag_names_flag_and_variable() -> None:
    with pytest.raises(SettingsError, match=r"--max-inflight \(setting WORKER_MAX_INFLIGHT\)"):
        load_settings(WorkerSettings, env={}, overrides={"max_inflight": "lots"})


def test_unknown_variable_in_our_families_is_rejected() -> None:
    with pytest.raises(SettingsError, match="WORKER_MAX_INFLIHGT"):
        reject_unknown_env({"WORKER_MAX_INFLIHGT": "3", "PATH": "/bin"})
    reject_unknown_env({"WORKER_MAX_INFLIGHT": "3", "HOME": "/root", "HF_HOME": "/cache"})


def test_secret_never_printed_in_repr_dump_or_error() -> None:
    key = "rtmp://a.rtmp.youtube.com/live2/abcd-SECRET-efgh"
    egress = load_settings(EgressSettings, env={"EGRESS_URL": key, "EGRESS_ENABLED": "true"})
    assert isinstance(egress.url, SecretStr)
    assert egress.url.get_secret_value() == key
    for shown in (repr(egress), str(egress), egress.model_dump_json()):
        assert "SECRET" not in shown
    with pytest.raises(SettingsError) as info:
        load_settings(EgressSettings, env={"EGRESS_URL": "http://host/SECRET-key"})
    assert "EGRESS_URL" in str(info.value)
    assert "SECRET" not in str(info.value)


def test_every_settings_class_is_listed() -> None:
    # a class missing from SETTINGS_CLASSES would have its variables rejected as unknown and left out
    # of .env.example
    from livedub.config import settings
    from livedub.config.loader import SettingsBase, iter_settings_classes

    defined = {value for value in vars(settings).values()
               if isinstance(value, type) and issubclass(value, SettingsBase) and value is not SettingsBase}
    assert set(settings.SETTINGS_CLASSES) == defined
    assert tuple(iter_settings_classes()) == settings.SETTINGS_CLASSES


@pytest.mark.parametrize(("env", "offline", "agreed"), [
    ({}, False, False),
    ({"HF_HUB_OFFLINE": "1", "COQUI_TOS_AGREED": "1"}, True, True),
    ({"HF_HUB_OFFLINE": "true", "COQUI_TOS_AGREED": "0"}, True, False),
])
def test_model_download_settings(env: dict[str, str], offline: bool, agreed: bool) -> None:
    from livedub.config.settings import ModelDownloadSettings

    downloads = load_settings(ModelDownloadSettings, env=env)
    assert (downloads.hf_hub_offline, downloads.coqui_tos_agreed) == (offline, agreed)
    with pytest.raises(SettingsError, match="HF_HUB_OFFLINE='maybe'"):
        load_settings(ModelDownloadSettings, env={"HF_HUB_OFFLINE": "maybe"})


def test_log_level_is_case_insensitive() -> None:
    from livedub.config.settings import LogSettings

    assert load_settings(LogSettings, env={"LOG_LEVEL": "debug"}).level is LogLevel.DEBUG


def test_env_example_matches_the_code() -> None:
    committed = (ROOT / ".env.example").read_text()
    assert committed == render_env_example(), "regenerate: livedub config --env-example > .env.example"


def _run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WORKER_", "ORCH_", "EGRESS_", "MEDIA_", "LOG_", "LIVEDUB_"))}
    return subprocess.run([sys.executable, "-m", "livedub.cli.main", *args], env={**clean, **env},
                          capture_output=True, text=True, timeout=60, check=False)


def test_cli_exits_nonzero_naming_the_variable() -> None:
    result = _run_cli("config", env={"WORKER_MAX_INFLIGHT": "banana"})
    assert result.returncode == 2
    assert "WORKER_MAX_INFLIGHT" in result.stderr
    result = _run_cli("config", env={"ORCH_GRACE_PERIDO": "5s"})
    assert result.returncode == 2
    assert "ORCH_GRACE_PERIDO" in result.stderr


def test_cli_config_masks_secrets() -> None:
    result = _run_cli("config", env={"EGRESS_URL": "rtmp://x.example/app/SECRETKEY"})
    assert result.returncode == 0, result.stderr
    assert "EGRESS_URL=**********" in result.stdout
    assert "SECRETKEY" not in result.stdout + result.stderr


@pytest.mark.parametrize("value", ["abc\n", "127.0.0.1:8080\n"])
def test_trailing_newlines_are_invalid(value: str) -> None:
    field = "WORKER_STREAM_ID" if not value.startswith("127") else "ORCH_HTTP_ADDR"
    cls = WorkerSettings if field.startswith("WORKER") else OrchestratorSettings
    with pytest.raises(SettingsError, match=field):
        load_settings(cls, env={field: value})
