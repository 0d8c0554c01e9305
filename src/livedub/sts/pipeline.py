"""The STS processor the streaming core calls: separation -> VAD -> ASR -> carry -> MT -> TTS ->
duration fit -> remix, one fragment at a time, several fragments at once.

    pipeline = StsPipeline.build(StsConfig.from_settings(worker, paths))
    pipeline.warm_up()                      # optional: load and run every stage once
    dubbed = pipeline.process(fragment)     # AudioFragment -> DubbedAudio, blocking, thread-safe

``process`` is what :class:`livedub.core.processor.StsProcessor` asks for; ``background`` is the
core's :class:`~livedub.core.processor.Separator` (served from the last separations when it can).
Models come from the process-wide cache (:mod:`livedub.sts.cache`), so building a second pipeline
for another stream in the same process loads nothing new. One pipeline per stream: it holds that
stream's sentence carry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from livedub.config.settings import PathSettings, WorkerSettings
from livedub.core.messages import AudioFragment, DubbedAudio
from livedub.sts import registry
from livedub.sts.audio import as_float, resample, to_mono
from livedub.sts.duration import DurationPolicy, fit_to_slot
from livedub.sts.errors import UnsupportedLanguage
from livedub.sts.messages import FitOutcome, FragmentKey, StsOutcome, Translation
from livedub.sts.mix import MixSettings, remix
from livedub.sts.protocols import (
    SpeechRecognizer,
    SpeechSeparator,
    SpeechSynthesizer,
    TimeStretcher,
    Translator,
    VoiceActivityDetector,
)
from livedub.sts.registry import LoadContext, Stage
from livedub.sts.text import SentenceCarry, cap_at_word, looks_repetitive, normalize_for_mt
from livedub.sts.voices import VoiceProfile, resolve_voice

log = logging.getLogger(__name__)

OUTPUT_RATE = 48_000
AUTO = "auto"
# TTS voices speak 14-18 characters a second (Kokoro measured); with the dub sped up at most
# DurationPolicy.max_speed, text beyond this rate times the fragment's length could never be heard
MAX_TTS_CHARS_PER_S = 24.0


@dataclass(frozen=True)
class StsConfig:
    source_language: str = "en"  # ISO 639-1, or "auto" (detected per fragment)
    target_language: str = "es"
    voice: str = ""  # WORKER_TTS_VOICE (see livedub.sts.voices)
    asr: str = "whisper-base"
    asr_options: Mapping[str, Any] = field(default_factory=dict)
    translator: str = AUTO  # a registry name, or auto: the first of translator_preference for the pair
    translator_preference: tuple[str, ...] = ("bergamot", "apertium", "nllb")
    translator_options: Mapping[str, Any] = field(default_factory=dict)
    tts: str = ""  # "": the voice profile's provider
    separator: str = AUTO  # auto: deepfilternet if installed, else duck
    stretcher: str = AUTO  # auto: rubberband if on PATH, else ola
    vad: str = AUTO  # auto: silero if installed, else energy
    load: LoadContext = field(default_factory=LoadContext)
    duration: DurationPolicy = field(default_factory=DurationPolicy)
    mix: MixSettings = field(default_factory=MixSettings)
    vad_threshold: float = 0.5
    pause_s: float = 0.25  # this much non-speech at a fragment's end counts as a pause (a boundary)
    carry: bool = True
    carry_max_chars: int = 160
    carry_wait_s: float = 1.0
    prompt_chars: int = 200  # previous source text given to the ASR as context (0: none)

    @classmethod
    def from_settings(cls, worker: WorkerSettings, paths: PathSettings, **overrides: Any) -> StsConfig:
        """The worker's settings: languages, voice, device and the cache directories."""
        load = overrides.pop("load", None) or LoadContext(
            device=worker.device.value, model_dir=paths.model_dir, hf_home=paths.hf_home, tts_home=paths.tts_home)
        return cls(source_language=worker.source_lang, target_language=worker.target_lang,
                   voice=worker.tts_voice, load=load, **overrides)

    @classmethod
    def fakes(cls, **overrides: Any) -> StsConfig:
        """Every stage a deterministic fake (tests, mock mode with the whole STS path)."""
        base = {"asr": "fake", "translator": "fake", "tts": "fake", "separator": "fake", "stretcher": "ola", "vad": "energy"}
        return cls(**{**base, **overrides})


def _pick(stage: Stage, choice: str, preference: tuple[str, ...]) -> str:
    if choice != AUTO:
        return choice
    for name in preference:
        if registry.spec(stage, name).availability().ok:
            return name
    return preference[-1]


@dataclass
class StsStats:
    """Counters since the pipeline started (the worker may export them as metrics)."""

    fragments: int = 0
    dubbed: int = 0
    silent: int = 0
    fits: int = 0
    borrowed: int = 0
    trimmed: int = 0
    trimmed_seconds: float = 0.0
    sped_up: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, outcome: StsOutcome) -> None:
        with self._lock:
            self.fragments += 1
            for stage, seconds in outcome.stage_seconds.items():
                self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds
            fit = outcome.fit
            if fit is None or fit.outcome is FitOutcome.empty:
                self.silent += 1
                return
            self.dubbed += 1
            self.sped_up += fit.speed > 1.0
            if fit.outcome is FitOutcome.fits:
                self.fits += 1
            elif fit.outcome is FitOutcome.borrowed:
                self.borrowed += 1
            else:
                self.trimmed += 1
                self.trimmed_seconds += fit.trimmed_s


class StsPipeline:
    def __init__(self, config: StsConfig, *, asr: SpeechRecognizer, tts: SpeechSynthesizer,
                 separator: SpeechSeparator, stretcher: TimeStretcher, vad: VoiceActivityDetector,
                 translator: Translator | None = None, voice: VoiceProfile | None = None) -> None:
        self.config = config
        self.asr, self.tts, self.separator = asr, tts, separator
        self.stretcher, self.vad = stretcher, vad
        self.voice = voice or resolve_voice(config.voice, config.target_language)
        self._translators: dict[tuple[str, str], Translator] = {}
        self._fixed_translator = translator
        self._translator_lock = threading.Lock()
        self.carry = SentenceCarry(max_chars=config.carry_max_chars, wait_s=config.carry_wait_s, enabled=config.carry)
        self.stats = StsStats()
        self._backgrounds: OrderedDict[str, np.ndarray] = OrderedDict()
        self._backgrounds_lock = threading.Lock()
        self._prompt = ""
        if not self.tts.supports(self.voice):
            raise UnsupportedLanguage(f"TTS cannot speak voice {self.voice.describe()}")

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def build(cls, config: StsConfig) -> StsPipeline:
        """Load (or reuse from the process cache) every stage the configuration names.

        Raises :class:`~livedub.sts.errors.ProviderUnavailable` (missing package or tool, with the
        command that installs it) or :class:`~livedub.sts.errors.ModelNotPrepared`."""
        ctx = config.load
        voice = resolve_voice(config.voice, config.target_language)
        tts_name = config.tts or voice.provider
        translator = None
        if config.translator != AUTO:
            translator = registry.create(Stage.mt, config.translator, ctx, **config.translator_options)
        return cls(
            config,
            asr=registry.create(Stage.asr, config.asr, ctx, **config.asr_options),
            tts=registry.create(Stage.tts, tts_name, ctx),
            separator=registry.create(Stage.separator, _pick(Stage.separator, config.separator, ("deepfilternet", "duck")), ctx),
            stretcher=registry.create(Stage.stretcher, _pick(Stage.stretcher, config.stretcher, ("rubberband", "ola")), ctx),
            vad=registry.create(Stage.vad, _pick(Stage.vad, config.vad, ("silero", "energy")), ctx),
            translator=translator,
            voice=voice,
        )

    def translator_for(self, source: str, target: str) -> Translator:
        source, target = source.split("-")[0], target.split("-")[0]
        with self._translator_lock:
            if (source, target) in self._translators:
                return self._translators[(source, target)]
            if self._fixed_translator is not None and (source != target or self.config.translator == "fake"):
                chosen: Translator = self._fixed_translator
            elif source == target:
                chosen = registry.create(Stage.mt, "identity", self.config.load)
            else:
                chosen = self._auto_translator(source, target)
            if not chosen.supports(source, target):
                raise UnsupportedLanguage(f"the configured translator cannot translate {source}->{target}")
            self._translators[(source, target)] = chosen
            return chosen

    def _auto_translator(self, source: str, target: str) -> Translator:
        tried = []
        for name in self.config.translator_preference:
            provider = registry.spec(Stage.mt, name)
            if not provider.availability().ok or provider.downloads:
                tried.append(f"{name} (not installed)" if not provider.availability().ok else f"{name} (needs download)")
                continue
            candidate = registry.create(Stage.mt, name, self.config.load, **self.config.translator_options)
            if candidate.supports(source, target):
                log.info("translating %s->%s with %s", source, target, name)
                return candidate
            tried.append(f"{name} (no {source}-{target})")
        raise UnsupportedLanguage(f"no installed translator for {source}->{target}; tried {', '.join(tried)}")

    def warm_up(self) -> None:
        """Run every stage once so the first real fragment does not pay for lazy initialisation."""
        silence = np.zeros((OUTPUT_RATE // 2, 2), np.float32)
        self.separator.separate(silence)
        self.vad.speech_probabilities(np.zeros(self.asr.sample_rate // 2, np.float32))
        self.asr.transcribe(np.zeros(self.asr.sample_rate // 2, np.float32), language=self._asr_language())
        if self.config.source_language != AUTO:
            self.translator_for(self.config.source_language, self.config.target_language).translate(
                "Hello.", source=self.config.source_language, target=self.config.target_language)
        speech = self.tts.synthesize("Hola.", self.voice)
        if len(speech.samples):
            self.stretcher.stretch(speech.samples, speech.sample_rate, 1.2)

    # ---- per fragment ---------------------------------------------------------------------------
    def process(self, fragment: AudioFragment) -> DubbedAudio:
        """The core's StsProcessor call: the fragment's span, dub mixed over the background."""
        outcome = self.process_detailed(fragment)
        return DubbedAudio(
            fragment_id=fragment.id, sequence=fragment.sequence, samples=outcome.samples,
            sample_rate=outcome.sample_rate, transcript=outcome.spoken_text or None,
            translation=outcome.translation.text if outcome.translation else None,
        )

    def background(self, fragment: AudioFragment) -> np.ndarray:
        """The core's Separator call: the fragment without its speech, float32 (n, 2) at 48 kHz."""
        with self._backgrounds_lock:
            cached = self._backgrounds.get(fragment.id)
        if cached is not None:
            return cached
        return self.separator.separate(as_float(fragment.samples)).background

    def process_detailed(self, fragment: AudioFragment) -> StsOutcome:
        key = FragmentKey(fragment.id, fragment.stream_id, fragment.sequence)
        return self.process_audio(fragment.samples, fragment.sample_rate, key=key)

    def process_audio(self, samples: np.ndarray, sample_rate: int, *, key: FragmentKey) -> StsOutcome:
        """Any (n,) / (n, c) int16 or float audio; the result is float32 (n', 2) at 48 kHz."""
        self.carry.begin(key.sequence)
        try:
            outcome = self._process(samples, sample_rate, key)
        except BaseException:
            self.carry.abandon(key.sequence)
            raise
        self.stats.record(outcome)
        return outcome

    def _process(self, samples: np.ndarray, sample_rate: int, key: FragmentKey) -> StsOutcome:
        timings: dict[str, float] = {}
        clock = time.perf_counter

        mix = as_float(samples)
        if mix.ndim == 1:
            mix = mix[:, None]
        if sample_rate != OUTPUT_RATE:
            mix = resample(mix, sample_rate, OUTPUT_RATE)
        mix = np.repeat(mix, 2, axis=1) if mix.shape[1] == 1 else mix[:, :2]
        n = len(mix)
        duration_s = n / OUTPUT_RATE

        started = clock()
        separation = self.separator.separate(mix)
        timings["separate"] = clock() - started
        with self._backgrounds_lock:
            self._backgrounds[key.fragment_id] = separation.background
            while len(self._backgrounds) > 16:
                self._backgrounds.popitem(last=False)

        started = clock()
        speech16 = resample(to_mono(separation.speech), OUTPUT_RATE, self.asr.sample_rate)
        vad_audio = speech16 if self.vad.sample_rate == self.asr.sample_rate else resample(
            to_mono(separation.speech), OUTPUT_RATE, self.vad.sample_rate)
        probabilities = self.vad.speech_probabilities(vad_audio)
        timings["vad"] = clock() - started
        frame_s = self.vad.frame_samples / self.vad.sample_rate
        voiced = np.flatnonzero(probabilities >= self.config.vad_threshold)
        if len(voiced):
            speech_start_s, speech_end_s = voiced[0] * frame_s, min(duration_s, (voiced[-1] + 1) * frame_s)
        else:
            speech_start_s = speech_end_s = duration_s
        ends_in_pause = duration_s - speech_end_s >= self.config.pause_s

        transcript = None
        text = ""
        if len(voiced):
            started = clock()
            transcript = replace(self.asr.transcribe(speech16, language=self._asr_language(),
                                                     prompt=self._prompt), key=key)
            timings["asr"] = clock() - started
            text = normalize_for_mt(transcript.text)
            if looks_repetitive(text):
                # a decoding loop on music or noise: speaking it would cost many seconds of TTS
                log.warning("ASR output looks like a decoding loop; fragment treated as without speech",
                            extra={"fragmentId": key.fragment_id, "streamId": key.stream_id, "chars": len(text)})
                text = ""
        decision = self.carry.settle(key.sequence, text, ends_in_pause=ends_in_pause)
        if decision.speak and self.config.prompt_chars:
            self._prompt = (self._prompt + " " + decision.speak)[-self.config.prompt_chars:].strip()

        translation: Translation | None = None
        speech = fit = None
        dub = np.zeros(n, np.float32)
        if decision.speak:
            source = transcript.language if transcript and self.config.source_language == AUTO else self.config.source_language
            started = clock()
            translation = replace(self.translator_for(source, self.config.target_language).translate(
                decision.speak, source=source, target=self.config.target_language), key=key)
            timings["translate"] = clock() - started
            # never synthesise more than the fragment could play even at the highest speed
            spoken = cap_at_word(translation.text, max(1, int(duration_s * self.config.duration.max_speed
                                                                * MAX_TTS_CHARS_PER_S)))
            if spoken != translation.text:
                log.info("translation cut from %d to %d characters to fit the fragment", len(translation.text),
                         len(spoken), extra={"fragmentId": key.fragment_id, "streamId": key.stream_id})
            started = clock()
            speech = replace(self.tts.synthesize(spoken, self.voice), key=key)
            timings["tts"] = clock() - started
            # carried-in text starts with the fragment; otherwise the dub starts where the speech did
            slot_start = 0.0 if decision.speak != text else speech_start_s
            slot_end = speech_end_s if len(voiced) else duration_s
            started = clock()
            fit = fit_to_slot(speech, slot_start_s=slot_start, slot_end_s=slot_end, fragment_samples=n,
                              sample_rate=OUTPUT_RATE, stretcher=self.stretcher, policy=self.config.duration)
            timings["stretch"] = clock() - started
            dub = fit.samples
            if fit.outcome.value == "trimmed":
                log.info("dub longer than its fragment even at %.2fx: %.2f s faded out", fit.speed, fit.trimmed_s,
                         extra={"fragmentId": key.fragment_id, "streamId": key.stream_id})

        started = clock()
        out = remix(separation.background, dub, OUTPUT_RATE, self.config.mix)
        timings["mix"] = clock() - started
        return StsOutcome(key=key, samples=out, sample_rate=OUTPUT_RATE, transcript=transcript,
                          translation=translation, speech=speech, fit=fit, background=separation.background,
                          stage_seconds=timings, spoken_text=decision.speak, carried_text=decision.carried)

    def _asr_language(self) -> str | None:
        return None if self.config.source_language == AUTO else self.config.source_language.split("-")[0]

    def flush(self) -> str:
        """Source text still carried at the end of a stream (not spoken)."""
        return self.carry.flush()
