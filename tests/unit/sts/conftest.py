"""Shared fixtures for the STS tests: real speech clips and the configured model directory."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from livedub.config import load_settings
from livedub.config.settings import PathSettings
from livedub.sts.audio import resample
from livedub.sts.registry import LoadContext, ProviderSpec
from tests.require import missing, require

ASTERISK_DIRS = (Path("/usr/share/asterisk/sounds/en"), Path("/usr/share/asterisk/sounds/en_US_f_Allison"))
CLIP = "all-circuits-busy-now.wav"  # "All circuits are busy now." (1.8 s, 8 kHz, human voice)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as source:
        data = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2").astype(np.float32) / 32768
        channels, rate = source.getnchannels(), source.getframerate()
    return (data.reshape(-1, channels).mean(axis=1) if channels > 1 else data), rate


def speech_clip_path(tmp_dir: Path) -> Path | None:
    for directory in ASTERISK_DIRS:
        if (directory / CLIP).is_file():
            return directory / CLIP
    espeak = shutil.which("espeak-ng")
    if espeak:
        out = tmp_dir / "speech.wav"
        subprocess.run([espeak, "-v", "en-us", "-w", str(out), "All circuits are busy now."], check=True)
        return out
    return None


@pytest.fixture(scope="session")
def speech_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, int]:
    """Mono float32 English speech: ("All circuits are busy now.")."""
    path = speech_clip_path(tmp_path_factory.mktemp("clip"))
    if path is None:
        missing("no speech sample: install asterisk-core-sounds-en-wav or espeak-ng (scripts/install.sh --test)")
    return read_wav(path)


@pytest.fixture(scope="session")
def speech_16k(speech_clip: tuple[np.ndarray, int]) -> np.ndarray:
    audio, rate = speech_clip
    return resample(audio, rate, 16_000)


@pytest.fixture(scope="session")
def load_ctx() -> LoadContext:
    """The configured model directory (LIVEDUB_MODEL_DIR), as `livedub models prepare` filled it."""
    paths = load_settings(PathSettings)
    return LoadContext(device="cpu", model_dir=paths.model_dir, hf_home=paths.hf_home, tts_home=paths.tts_home)


def require_provider(provider: ProviderSpec) -> None:
    """Skip, with the reason and the fix, when a provider's package or tool is absent.

    Production providers (the gpu-models extra) are GPU-only requirements: CI on a CPU machine
    lets them skip; every other provider must be installed there."""
    name, gpu = f"{provider.stage.value}/{provider.name}", provider.extra == "gpu-models"
    status = provider.availability()
    require(status.ok, f"{name}: {status.reason} (install: {status.fix})", gpu=gpu)
    if provider.downloads:
        missing(f"{name} downloads its weights at first use; "
                "its loading is covered up to the download boundary in test_production.py", gpu=gpu)
