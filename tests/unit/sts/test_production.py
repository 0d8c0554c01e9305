"""The seed's production providers, up to the download boundary: a missing package (hidden here)
gives a clear ProviderUnavailable; faster-whisper (installed) looks for a named model
in HF_HOME and, offline, says it must be downloaded; Coqui's loading is driven through a stub."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from livedub.config.settings import ModelDownloadSettings
from livedub.sts import registry
from livedub.sts.errors import ModelDownloadRequired, ProviderUnavailable, StsError
from livedub.sts.registry import LoadContext
from livedub.sts.voices import resolve_voice
from tests.require import requires


@requires(registry.spec("asr", "whisper").availability().ok, "faster-whisper not installed")
def test_named_whisper_offline_names_its_cache_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read through the settings loader into the load context
    from livedub.sts.providers.faster_whisper_asr import NamedWhisper

    ctx = LoadContext(hf_home=tmp_path / "hf")
    assert ctx.downloads.hf_hub_offline is True
    with pytest.raises(ModelDownloadRequired) as error:
        NamedWhisper(ctx, model="small")
    assert str(tmp_path / "hf" / "hub") in str(error.value) and "'small'" in str(error.value)
    assert error.value.retryable is False


@pytest.mark.parametrize(("stage", "name", "module"), [("tts", "coqui", "TTS"), ("mt", "nllb", "sentencepiece")])
def test_missing_production_packages_point_at_the_gpu_extra(stage: str, name: str, module: str,
                                                            monkeypatch) -> None:
    # the package is hidden rather than required to be absent, so this runs where gpu-models is installed too
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == module else find_spec(m, *a))
    with pytest.raises(ProviderUnavailable, match=r"gpu-models"):
        registry.create(stage, name, LoadContext())


CT2_MT = "livedub.sts.providers.ctranslate2_mt"


@pytest.fixture
def ct2_mt(monkeypatch) -> types.ModuleType:
    """The NLLB provider module; sentencepiece (gpu-models extra) stubbed where it is not installed."""
    if importlib.util.find_spec("sentencepiece") is None:
        monkeypatch.setitem(sys.modules, "sentencepiece", types.ModuleType("sentencepiece"))
    monkeypatch.delitem(sys.modules, CT2_MT, raising=False)
    module = importlib.import_module(CT2_MT)
    monkeypatch.setitem(sys.modules, CT2_MT, module)  # dropped after the test, with its stubbed import
    return module


def test_nllb_offline_without_the_model_says_download_required(ct2_mt, tmp_path: Path) -> None:
    with pytest.raises(ModelDownloadRequired, match="could not be downloaded") as error:
        ct2_mt.fetch("livedub-tests/no-such-model", tmp_path / "hub", offline=True)
    assert str(tmp_path / "hub") in str(error.value) and error.value.retryable is False


def test_nllb_unknown_repository_names_the_model(ct2_mt, tmp_path: Path, monkeypatch) -> None:
    from huggingface_hub.utils import RepositoryNotFoundError

    def not_found(*_: object, **__: object) -> str:
        raise RepositoryNotFoundError.__new__(RepositoryNotFoundError)  # its constructor wants an HTTP response

    monkeypatch.setattr(ct2_mt, "snapshot_download", not_found)
    with pytest.raises(ModelDownloadRequired, match="not on the Hugging Face Hub"):
        ct2_mt.fetch("livedub-tests/typo", tmp_path / "hub", offline=False)


def test_nllb_fetch_lets_a_bug_through(ct2_mt, tmp_path: Path, monkeypatch) -> None:
    def broken(*_: object, **__: object) -> str:
        raise TypeError("snapshot_download() got an unexpected keyword argument")

    monkeypatch.setattr(ct2_mt, "snapshot_download", broken)
    with pytest.raises(TypeError):  # not "download required": a bug is not a missing model
        ct2_mt.fetch("livedub-tests/any", tmp_path / "hub", offline=False)


class _StubModel:
    calls: ClassVar[list[dict]] = []
    loaded: ClassVar[list[tuple[str, str]]] = []

    def __init__(self, model_name: str, progress_bar: bool) -> None:
        import os

        if "xtts" in model_name and os.environ.get("COQUI_TOS_AGREED") != "1":
            raise EOFError("Coqui would ask for the license on stdin")  # what coqui-tts does
        self.name = model_name
        self.is_multi_lingual = "multilingual" in model_name
        self.is_multi_speaker = self.is_multi_lingual
        self.synthesizer = types.SimpleNamespace(output_sample_rate=24_000)
        _StubModel.loaded.append((model_name, os.environ["TTS_HOME"]))
        if "missing" in model_name:
            raise ConnectionError("no network")

    def to(self, device: str) -> _StubModel:
        self.device = device
        return self

    def tts(self, text: str, **kwargs: object) -> list[float]:
        _StubModel.calls.append({"text": text, **kwargs})
        return list(0.1 * np.sin(np.arange(12_000) / 10))


@pytest.fixture()
def stub_coqui(monkeypatch):
    package = types.ModuleType("TTS")
    api = types.ModuleType("TTS.api")
    api.TTS = _StubModel
    package.api = api
    monkeypatch.setitem(sys.modules, "TTS", package)
    monkeypatch.setitem(sys.modules, "TTS.api", api)
    torch = types.ModuleType("torch")
    torch.cuda = types.SimpleNamespace(is_available=lambda: False)
    monkeypatch.setitem(sys.modules, "torch", torch)
    # CoquiSynthesizer hands its settings to Coqui in the environment: restored after the test
    monkeypatch.delenv("TTS_HOME", raising=False)
    monkeypatch.delenv("COQUI_TOS_AGREED", raising=False)
    _StubModel.calls.clear()
    _StubModel.loaded.clear()


def test_coqui_xtts_clones_from_the_reference_sample_into_tts_home(stub_coqui, tmp_path: Path, monkeypatch) -> None:
    from livedub.sts.providers.coqui_tts import CoquiSynthesizer

    sample = tmp_path / "anchor.wav"
    sample.write_bytes(b"RIFF")
    voice = resolve_voice(f"xtts:{sample}", "es")
    refused = CoquiSynthesizer(LoadContext(device="cuda", tts_home=tmp_path / "tts",
                                           downloads=ModelDownloadSettings(coqui_tos_agreed=False)))
    with pytest.raises(StsError, match="COQUI_TOS_AGREED"):
        refused.synthesize("Hola a todos.", voice)
    assert _StubModel.loaded == []
    monkeypatch.setenv("COQUI_TOS_AGREED", "true")  # the setting takes true; Coqui itself wants "1"
    tts = CoquiSynthesizer(LoadContext(device="cuda", tts_home=tmp_path / "tts"))
    speech = tts.synthesize("Hola a todos.", voice)
    assert speech.sample_rate == 24_000 and len(speech.samples) == 12_000
    assert _StubModel.loaded == [("tts_models/multilingual/multi-dataset/xtts_v2", str((tmp_path / "tts").resolve()))]
    assert _StubModel.calls == [{"text": "Hola a todos.", "language": "es", "speaker_wav": str(sample)}]


def test_coqui_vits_fast_path_and_offline_error(stub_coqui, tmp_path: Path) -> None:
    from livedub.sts.providers.coqui_tts import CoquiSynthesizer

    tts = CoquiSynthesizer(LoadContext(tts_home=tmp_path / "tts"))
    speech = tts.synthesize("Hola.", resolve_voice("es-vits", "es"))
    assert len(speech.samples) and _StubModel.calls[-1] == {"text": "Hola."}
    with pytest.raises(ModelDownloadRequired, match=str(tmp_path / "tts")):
        tts.synthesize("Hola.", resolve_voice("coqui:tts_models/es/missing/vits", "es"))
