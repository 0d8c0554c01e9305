"""Every STS provider reachable by configuration: WORKER_ASR, WORKER_MT, WORKER_TTS, WORKER_SEPARATOR
(and the model options) are validated against the registry, reach the pipeline's configuration, and
`livedub models list|download` say what the selection needs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

from livedub.cli.main import cli
from livedub.config import SettingsError, load_settings
from livedub.config.settings import PathSettings, WorkerSettings
from livedub.sts import StsConfig, StsPipeline, registry
from livedub.sts.registry import Stage
from tests.require import require

BASE = {"WORKER_STREAM_ID": "cam1", "WORKER_INPUT_URL": "rtmp://127.0.0.1:1935/live/cam1/in",
        "WORKER_OUTPUT_URL": "rtmp://127.0.0.1:1935/live/cam1/out"}


@pytest.mark.parametrize(("variable", "stage", "extra"), [
    ("WORKER_ASR", "asr", []), ("WORKER_MT", "mt", ["auto"]), ("WORKER_TTS", "tts", ["''"]),
    ("WORKER_SEPARATOR", "separator", ["auto"]),
])
def test_an_unknown_provider_names_the_variable_and_every_choice(variable: str, stage: str, extra: list[str]) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(WorkerSettings, env={variable: "bogus"})
    message = str(error.value)
    assert variable in message and "bogus" in message
    assert message.endswith("choose one of: " + ", ".join(extra + registry.names(stage)))


def test_model_options_belong_to_the_provider_that_takes_them() -> None:
    with pytest.raises(SettingsError, match="WORKER_ASR_MODEL is for WORKER_ASR=whisper"):
        load_settings(WorkerSettings, env={"WORKER_ASR_MODEL": "medium"})
    with pytest.raises(SettingsError, match="WORKER_MT_MODEL is for WORKER_MT=nllb"):
        load_settings(WorkerSettings, env={"WORKER_MT": "apertium", "WORKER_MT_MODEL": "x/y"})


def test_the_selection_reaches_the_pipeline_configuration(tmp_path: Path) -> None:
    worker = load_settings(WorkerSettings, env={
        "WORKER_ASR": "whisper", "WORKER_ASR_MODEL": "medium", "WORKER_ASR_BEAM": "3",
        "WORKER_ASR_COMPUTE_TYPE": "int8_float16", "WORKER_MT": "nllb",
        "WORKER_MT_MODEL": "facebook/nllb-ct2", "WORKER_TTS": "pico", "WORKER_SEPARATOR": "duck"})
    paths = load_settings(PathSettings, env={"LIVEDUB_DATA_DIR": str(tmp_path)})
    config = StsConfig.from_settings(worker, paths)
    assert (config.asr, config.translator, config.tts, config.separator) == ("whisper", "nllb", "pico", "duck")
    assert config.asr_options == {"window_s": 10.0, "beam_size": 3, "compute_type": "int8_float16", "model": "medium"}
    assert config.translator_options == {"model": "facebook/nllb-ct2"}
    planned = StsPipeline.planned_providers(config)
    assert planned[Stage.asr] == "whisper" and planned[Stage.mt] == "nllb" and planned[Stage.tts] == "pico"
    assert planned[Stage.separator] == "duck"


def test_the_defaults_keep_the_packaged_offline_stack(tmp_path: Path) -> None:
    config = StsConfig.from_settings(load_settings(WorkerSettings, env={}),
                                     load_settings(PathSettings, env={"LIVEDUB_DATA_DIR": str(tmp_path)}))
    assert (config.asr, config.translator, config.tts, config.separator) == ("whisper-base", "auto", "", "auto")
    assert not registry.spec(Stage.asr, config.asr).downloads


def test_every_named_whisper_size_downloads_its_own_model() -> None:
    for size in ("small", "medium", "large-v3", "large-v3-turbo"):
        spec = registry.spec(Stage.asr, f"whisper-{size}")
        assert spec.downloads and spec.options == {"model": size} and spec.target == registry.spec(
            Stage.asr, "whisper").target


def test_worker_with_an_unknown_translator_exits_2_naming_it() -> None:
    result = CliRunner().invoke(cli, ["worker"], env={**BASE, "WORKER_MT": "bogus"})
    assert result.exit_code == 2, result.output
    assert "WORKER_MT" in result.output and "apertium" in result.output


def test_models_list_marks_the_selection_and_names_the_download_command() -> None:
    result = CliRunner().invoke(cli, ["models", "list"], env={"WORKER_ASR": "whisper-large-v3-turbo",
                                                              "WORKER_DEVICE": "cuda", "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "whisper-large-v3-turbo *" in result.output
    assert "asr whisper-large-v3-turbo: needs a download" in result.output
    assert "livedub models download" in result.output


def test_models_list_shows_each_providers_licence() -> None:
    result = CliRunner().invoke(cli, ["models", "list"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[2].strip(): line for line in result.output.splitlines() if line.count("│") > 5}
    assert "CC-BY-NC-4.0" in rows["nllb"] and "Apache-2.0 (Qwen2.5-Coder" in rows["llm"]
    assert "CPML" in rows["coqui"] and "MIT" in rows["whisper-base *"]  # selected by default


def test_models_download_with_nothing_to_download_says_so() -> None:
    result = CliRunner().invoke(cli, ["models", "download"], env={})
    assert result.exit_code == 0, result.output
    assert "nothing to download" in result.output


def test_models_download_offline_stops_at_the_download_boundary_with_the_fix(tmp_path: Path) -> None:
    require(importlib.util.find_spec("faster_whisper") is not None,
            "faster-whisper not installed (./scripts/install.sh --models)")
    result = CliRunner().invoke(cli, ["models", "download"], env={
        "WORKER_ASR": "whisper-small", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert result.exit_code == 1, result.output
    assert f"Whisper model 'small' is not in {tmp_path / 'hf' / 'hub'}" in result.output
    assert "livedub models download" in result.output and "HF_HUB_OFFLINE unset" in result.output
