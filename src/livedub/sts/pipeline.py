"""The STS processor the streaming core calls: separation -> VAD -> ASR -> MT -> TTS -> duration
fit -> remix, one speech segment at a time, several segments at once.

    pipeline = StsPipeline.build(StsConfig.from_settings(worker, paths))
    pipeline.warm_up()                      # optional: load and run every stage once
    dubbed = pipeline.process(segment)      # SpeechSegment -> DubbedAudio, blocking, thread-safe

``process`` is what :class:`livedub.core.processor.StsProcessor` asks for; ``background`` is the
core's :class:`~livedub.core.processor.Separator` (served from the last separations when it can).
Models come from the process-wide cache (:mod:`livedub.sts.cache`), so building a second pipeline
for another stream in the same process loads nothing new. One pipeline per stream: it holds that
stream's ASR prompt (the text of a sentence a segment cut left open).

Per segment: one ASR call (a sentence left open by the previous segment as prompt), translation a sentence at a time, one TTS
call per sentence, the dub placed where the speech started and allowed to run on into the spill
past the segment's end before it is sped up. Quality rungs (``quality_rungs``): ``natural`` (the
stream's voice, model separation), ``fast`` (the fast voice, Pico), ``fastest`` (fast voice, ducking).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from livedub.config.settings import PathSettings, WorkerSettings
from livedub.core.messages import SAMPLE_RATE, AudioFragment, DubbedAudio, SpeechSegment
from livedub.sts import registry
from livedub.sts.audio import as_float, resample, to_mono
from livedub.sts.duration import DurationPolicy, OverflowPolicy, fit_to_slot
from livedub.sts.errors import ProviderUnavailable, Unavailable, UnsupportedLanguage
from livedub.sts.glossary import Glossary, GlossaryError
from livedub.sts.messages import FitOutcome, FragmentKey, StsOutcome, SynthesizedSpeech, Translation
from livedub.sts.mix import MixSettings, level_dub, remix
from livedub.sts.protocols import (
    SpeechRecognizer,
    SpeechSeparator,
    SpeechSynthesizer,
    TimeStretcher,
    Translator,
    VoiceActivityDetector,
)
from livedub.sts.registry import LoadContext, Stage
from livedub.sts.text import echoes_prompt, looks_repetitive, normalize_for_mt, split_sentences
from livedub.sts.voices import VoiceProfile, fast_voice, resolve_voice

log = logging.getLogger(__name__)

OUTPUT_RATE = SAMPLE_RATE  # STS output is at the core's rate
AUTO = "auto"


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
    fast_voice: str = AUTO  # the fast rung's voice: auto (the language's Pico voice if installed), a profile, or none
    separator: str = AUTO  # auto: deepfilternet if installed, else duck
    stretcher: str = AUTO  # auto: rubberband if on PATH, else ola
    vad: str = AUTO  # auto: silero if installed, else energy
    load: LoadContext = field(default_factory=LoadContext)
    duration: DurationPolicy = field(default_factory=DurationPolicy)
    mix: MixSettings = field(default_factory=MixSettings)
    vad_threshold: float = 0.5
    prompt_chars: int = 200  # the open sentence's source text given to the next ASR call as context (0: none)
    unheard_speech_min_s: float = 0.25  # voiced this long with no word heard: the speech is removed, not kept
    glossary: Glossary | None = None  # WORKER_GLOSSARY: terms translated the same way every time

    @classmethod
    def from_settings(cls, worker: WorkerSettings, paths: PathSettings, **overrides: Any) -> StsConfig:
        """The worker's settings: languages, voice, device and the cache directories."""
        load = overrides.pop("load", None) or LoadContext(
            device=worker.device.value, model_dir=paths.model_dir, hf_home=paths.hf_home, tts_home=paths.tts_home,
            cpu_threads=worker.cpu_threads)
        asr_options: dict[str, Any] = {"window_s": worker.asr_window, "beam_size": worker.asr_beam}
        if worker.asr_compute_type:
            asr_options["compute_type"] = worker.asr_compute_type
        if worker.asr_model:
            asr_options["model"] = worker.asr_model
        overrides.setdefault("asr_options", asr_options)
        chosen = {"asr": worker.asr, "translator": worker.mt, "tts": worker.tts, "separator": worker.separator}
        for name, value in chosen.items():
            overrides.setdefault(name, value)
        if worker.mt_model:
            overrides.setdefault("translator_options", {"model": worker.mt_model})
        if worker.glossary:
            try:
                overrides.setdefault("glossary", Glossary.load(Path(worker.glossary)))
            except GlossaryError as exc:
                raise Unavailable(f"WORKER_GLOSSARY: {exc}") from None
        return cls(source_language=worker.source_lang, target_language=worker.target_lang,
                   voice=worker.tts_voice, load=load, **overrides)

    @classmethod
    def fakes(cls, **overrides: Any) -> StsConfig:
        """Every stage a deterministic fake (tests, mock mode with the whole STS path)."""
        base = {"asr": "fake", "translator": "fake", "tts": "fake", "separator": "fake", "stretcher": "ola", "vad": "energy",
                "fast_voice": "none"}
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
                 translator: Translator | None = None, voice: VoiceProfile | None = None,
                 fast_tts: SpeechSynthesizer | None = None, fast_voice: VoiceProfile | None = None,
                 light_separator: SpeechSeparator | None = None) -> None:
        self.config = config
        self.asr, self.tts, self.separator = asr, tts, separator
        self.stretcher, self.vad = stretcher, vad
        self.voice = voice or resolve_voice(config.voice, config.target_language)
        self._translators: dict[tuple[str, str], Translator] = {}
        self._fixed_translator = translator
        self._translator_lock = threading.Lock()
        self.stats = StsStats()
        self._backgrounds: OrderedDict[str, np.ndarray] = OrderedDict()
        self._backgrounds_lock = threading.Lock()
        self._prompt = ""
        self._prompt_lock = threading.Lock()
        self._hint_words = config.glossary.hint_words(config.source_language) if config.glossary else ""
        if not self.tts.supports(self.voice):
            raise UnsupportedLanguage(f"TTS cannot speak voice {self.voice.describe()}")
        self.rungs = _rungs(self.voice, tts, separator, fast_voice, fast_tts, light_separator)

    @property
    def quality_rungs(self) -> tuple[str, ...]:
        """The core's quality ladder, best first (see :mod:`livedub.core.quality`)."""
        return tuple(self.rungs)

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def build(cls, config: StsConfig) -> StsPipeline:
        """Load (or reuse from the process cache) every stage the configuration names.

        Raises :class:`~livedub.sts.errors.ProviderUnavailable` (missing package or tool, with the
        command that installs it) or :class:`~livedub.sts.errors.ModelNotPrepared`."""
        ctx = config.load
        voice, fast, separator_name = _plan(config)
        tts_name = config.tts or voice.provider
        translator = None
        if config.translator != AUTO:
            translator = registry.create(Stage.mt, config.translator, ctx, **config.translator_options)
        return cls(
            config,
            asr=registry.create(Stage.asr, config.asr, ctx, **config.asr_options),
            tts=registry.create(Stage.tts, tts_name, ctx),
            separator=registry.create(Stage.separator, separator_name, ctx),
            stretcher=registry.create(Stage.stretcher, _pick(Stage.stretcher, config.stretcher, ("rubberband", "ola")), ctx),
            vad=registry.create(Stage.vad, _pick(Stage.vad, config.vad, ("silero", "energy")), ctx),
            translator=translator,
            voice=voice,
            fast_tts=registry.create(Stage.tts, fast.provider, ctx) if fast is not None else None,
            fast_voice=fast,
            light_separator=registry.create(Stage.separator, "duck", ctx) if separator_name != "duck" else None,
        )

    @staticmethod
    def planned_providers(config: StsConfig) -> dict[Stage, str]:
        """The provider :meth:`build` uses for each stage (``auto`` for a translator chosen per language
        pair), known without loading anything; the fast rung's voice is not included."""
        voice, _fast, separator_name = _plan(config)
        return {Stage.asr: config.asr, Stage.mt: config.translator, Stage.tts: config.tts or voice.provider,
                Stage.separator: separator_name,
                Stage.stretcher: _pick(Stage.stretcher, config.stretcher, ("rubberband", "ola")),
                Stage.vad: _pick(Stage.vad, config.vad, ("silero", "energy"))}

    @staticmethod
    def planned_rungs(config: StsConfig) -> tuple[str, ...]:
        """The :attr:`quality_rungs` that :meth:`build` will give, known without loading a model
        (the worker's core needs them while the models load). Raises like :meth:`build` for an
        unknown voice, or :class:`ProviderUnavailable` for a provider whose package or tool is missing."""
        voice, fast, separator_name = _plan(config)
        for stage, name in StsPipeline.planned_providers(config).items():
            if name == AUTO:  # the translator, chosen per language pair when first needed
                continue
            spec = registry.spec(stage, name)
            status = spec.availability()
            if not status.ok:
                raise ProviderUnavailable(f"{stage.value} provider {name!r}: {status.reason}", fix=status.fix)
        names = ["natural"]
        if fast is not None and fast.provider != voice.provider:
            names.append("fast")
        if separator_name != "duck":
            names.append("fastest")
        return tuple(names)

    def _translate(self, translator: Translator, sentence: str, source: str) -> Translation:
        """One sentence, with the glossary's terms protected around the translator."""
        target, glossary = self.config.target_language, self.config.glossary
        if glossary is None:
            return translator.translate(sentence, source=source, target=target)
        protected, terms = glossary.protect(sentence, source.split("-")[0], target.split("-")[0])
        result = translator.translate(protected, source=source, target=target)
        if not terms:
            return result
        return replace(result, source_text=sentence, text=Glossary.restore(result.text, terms))

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
        """Run every stage (every rung's voice and separator) once, so the first real segment does
        not pay for lazy initialisation."""
        silence = np.zeros((OUTPUT_RATE // 2, 2), np.float32)
        for rung in {id(r.separator): r for r in self.rungs.values()}.values():
            rung.separator.separate(silence)
        self.vad.speech_probabilities(np.zeros(self.asr.sample_rate // 2, np.float32))
        self.asr.transcribe(np.zeros(self.asr.sample_rate // 2, np.float32), language=self._asr_language())
        if self.config.source_language != AUTO:
            self.translator_for(self.config.source_language, self.config.target_language).translate(
                "Hello.", source=self.config.source_language, target=self.config.target_language)
        for rung in {(id(r.tts), r.voice.name): r for r in self.rungs.values()}.values():
            speech = rung.tts.synthesize("Hola.", rung.voice)
            if len(speech.samples):
                self.stretcher.stretch(speech.samples, speech.sample_rate, 1.2)

    # ---- per segment ----------------------------------------------------------------------------
    def process(self, segment: AudioFragment | SpeechSegment) -> DubbedAudio:
        """The core's StsProcessor call: the segment's span, dub mixed over the background, and
        the dub's run-on past the segment's end (``tail``, voice only, at most ``spill_ns``)."""
        outcome = self.process_detailed(segment)
        n = segment.num_samples
        return DubbedAudio(
            fragment_id=segment.id, sequence=segment.sequence, samples=outcome.samples[:n],
            sample_rate=outcome.sample_rate, transcript=outcome.spoken_text or None,
            translation=outcome.translation.text if outcome.translation else None,
            tail=outcome.tail, tier=outcome.tier, stage_seconds=dict(outcome.stage_seconds),
            voice_span_ns=None if outcome.fit is None or outcome.fit.duration_s <= 0 else (
                round(outcome.fit.offset_s * 1e9), round((outcome.fit.offset_s + outcome.fit.duration_s) * 1e9)),
        )

    def background(self, fragment: AudioFragment) -> np.ndarray:
        """The core's Separator call: the fragment without its speech, float32 (n, 2) at 48 kHz."""
        with self._backgrounds_lock:
            cached = self._backgrounds.get(fragment.id)
        if cached is not None:
            return cached
        return self.separator.separate(as_float(fragment.samples)).background

    def process_detailed(self, segment: AudioFragment | SpeechSegment) -> StsOutcome:
        key = FragmentKey(segment.id, segment.stream_id, segment.sequence)
        spill_s = getattr(segment, "spill_ns", 0) / 1e9
        outcome = self.process_audio(segment.samples, segment.sample_rate, key=key, spill_s=spill_s,
                                     tier=getattr(segment, "tier", "") or next(iter(self.rungs)))
        fragments = getattr(segment, "fragments", (segment,))
        if outcome.background is not None:  # for the core's background-only fallback of these fragments
            with self._backgrounds_lock:
                offset = 0
                for fragment in fragments:
                    self._backgrounds[fragment.id] = outcome.background[offset:offset + fragment.num_samples]
                    offset += fragment.num_samples - fragment.overlap_samples
                while len(self._backgrounds) > 32:
                    self._backgrounds.popitem(last=False)
        return outcome

    def process_audio(self, samples: np.ndarray, sample_rate: int, *, key: FragmentKey, spill_s: float = 0.0,
                      tier: str = "") -> StsOutcome:
        """Any (n,) / (n, c) int16 or float audio; the result is float32 (n', 2) at 48 kHz.

        ``tier``: the quality rung (:attr:`quality_rungs`) that voices it; ``spill_s``: how far the
        dub may run on past the audio's end (returned as the outcome's ``tail``)."""
        rung = self.rungs.get(tier) or next(iter(self.rungs.values()))
        outcome = self._process(samples, sample_rate, key, rung, spill_s)
        self.stats.record(outcome)
        return outcome

    def _process(self, samples: np.ndarray, sample_rate: int, key: FragmentKey, rung: _Rung,
                 spill_s: float) -> StsOutcome:
        timings: dict[str, float] = {}
        clock = time.perf_counter
        log_extra = {"fragmentId": key.fragment_id, "streamId": key.stream_id}

        mix = as_float(samples)
        if mix.ndim == 1:
            mix = mix[:, None]
        if sample_rate != OUTPUT_RATE:
            mix = resample(mix, sample_rate, OUTPUT_RATE)
        mix = np.repeat(mix, 2, axis=1) if mix.shape[1] == 1 else mix[:, :2]
        n = len(mix)
        duration_s = n / OUTPUT_RATE
        spill = round(max(0.0, spill_s) * OUTPUT_RATE)

        started = clock()
        separation = rung.separator.separate(mix)
        timings["separate"] = clock() - started

        started = clock()
        speech16 = resample(to_mono(separation.speech), OUTPUT_RATE, self.asr.sample_rate)
        vad_audio = speech16 if self.vad.sample_rate == self.asr.sample_rate else resample(
            to_mono(separation.speech), OUTPUT_RATE, self.vad.sample_rate)
        probabilities = self.vad.speech_probabilities(vad_audio)
        timings["vad"] = clock() - started
        frame_s = self.vad.frame_samples / self.vad.sample_rate
        voiced = np.flatnonzero(probabilities >= self.config.vad_threshold)
        speech_start_s = voiced[0] * frame_s if len(voiced) else duration_s
        if hasattr(rung.separator, "duck_where"):  # ducking: only where the VAD heard speech, not loud music
            separation = rung.separator.duck_where(mix, probabilities >= self.config.vad_threshold, frame_s)

        transcript = None
        text = ""
        if len(voiced):
            with self._prompt_lock:
                prompt = self._prompt
            if self._hint_words:  # the glossary's terms, so Whisper spells them its way
                prompt = f"{self._hint_words}. {prompt}".strip()
            started = clock()
            transcript = self.asr.transcribe(speech16, language=self._asr_language(), prompt=prompt)
            if prompt and echoes_prompt(transcript.text, prompt):
                # Whisper repeating its context instead of this speech: heard again without it
                log.warning("ASR repeated its prompt; transcribed again without it", extra=log_extra)
                transcript = self.asr.transcribe(speech16, language=self._asr_language(), prompt="")
            transcript = replace(transcript, key=key)
            timings["asr"] = clock() - started
            text = normalize_for_mt(transcript.text)
            if looks_repetitive(text):
                # a decoding loop on music or noise: speaking it would cost many seconds of TTS
                log.warning("ASR output looks like a decoding loop; segment treated as without speech",
                            extra={**log_extra, "chars": len(text)})
                text = ""
        if text and self.config.prompt_chars:
            # only a sentence still open carries into the next segment's ASR (a segment cut inside it);
            # finished sentences as context make Whisper echo them over speech it cannot follow
            rest = split_sentences(text)[1]
            with self._prompt_lock:
                self._prompt = (self._prompt + " " + rest)[-self.config.prompt_chars:].strip() if rest else ""

        translation: Translation | None = None
        speech = fit = None
        dub = np.zeros(n + spill, np.float32)
        if text:
            source = transcript.language if transcript and self.config.source_language == AUTO else self.config.source_language
            translator = self.translator_for(source, self.config.target_language)
            sentences, rest = split_sentences(text)
            started = clock()
            translated = [self._translate(translator, sentence, source)
                          for sentence in (*sentences, *([rest] if rest else []))]
            timings["translate"] = clock() - started
            translation = replace(translated[0], text=" ".join(t.text for t in translated if t.text.strip()),
                                  key=key)
            started = clock()
            speech = self._voice(rung, [t.text for t in translated if t.text.strip()], key,
                                 slot_s=duration_s + spill / OUTPUT_RATE - speech_start_s)
            timings["tts"] = clock() - started
            started = clock()
            # the dub starts where the speech did and may run on to the end of the spill
            fit = fit_to_slot(speech, slot_start_s=speech_start_s, slot_end_s=(n + spill) / OUTPUT_RATE,
                              fragment_samples=n + spill, sample_rate=OUTPUT_RATE, stretcher=self.stretcher,
                              policy=replace(self.config.duration, overflow=OverflowPolicy.fade_trim))
            timings["stretch"] = clock() - started
            dub = fit.samples
            if fit.outcome is FitOutcome.trimmed:
                log.info("dub longer than its segment even at %.2fx: %.2f s faded out", fit.speed, fit.trimmed_s,
                         extra=log_extra)

        started = clock()
        dub = level_dub(dub, self.config.mix.dub_level_db)
        # a voice (to a VAD that tells voices from music: Silero) in which Whisper heard no word, such as
        # a lone "Please" cut off by a pause: the viewer would hear the source language, so it goes and
        # the background stays. A level-based VAD may have taken music for speech: that audio stays.
        unheard = (not text and transcript is not None and not transcript.text.strip()
                   and getattr(self.vad, "tells_voice_from_music", False)
                   and len(voiced) * frame_s >= self.config.unheard_speech_min_s)
        if text or unheard:
            out = remix(separation.background, dub[:n], OUTPUT_RATE, replace(self.config.mix, dub_level_db=None))
            if unheard:
                log.info("speech without words to Whisper (%.2f s voiced): background only", len(voiced) * frame_s,
                         extra=log_extra)
        else:  # nothing to replace (music or noise the segmenter took for speech): the audio stays as it came
            out = mix.astype(np.float32, copy=True)
        run_on = dub[n:] * self.config.mix.dub_gain
        timings["mix"] = clock() - started
        return StsOutcome(key=key, samples=out, sample_rate=OUTPUT_RATE, transcript=transcript,
                          translation=translation, speech=speech, fit=fit, background=separation.background,
                          stage_seconds=timings, spoken_text=text, tier=rung.name,
                          tail=run_on if np.any(run_on) else None)

    def _voice(self, rung: _Rung, sentences: list[str], key: FragmentKey, slot_s: float) -> SynthesizedSpeech:
        """One TTS call per sentence, joined by a short breath. A voice that changes its rate natively
        (Pico) speaks faster instead of being stretched when the slot asks for it."""
        parts = [replace(rung.tts.synthesize(sentence, rung.voice), key=key) for sentence in sentences]
        speech = _join(parts, rung.voice.name)
        wanted = speech.duration_s / max(slot_s, 1e-3)
        if wanted > 1.02 and getattr(rung.tts, "native_rate", False):
            faster = replace(rung.voice, speed=rung.voice.speed * min(wanted, self.config.duration.max_speed))
            speech = _join([replace(rung.tts.synthesize(sentence, faster), key=key) for sentence in sentences],
                           rung.voice.name)
        return speech

    def _asr_language(self) -> str | None:
        return None if self.config.source_language == AUTO else self.config.source_language.split("-")[0]


@dataclass(frozen=True)
class _Rung:
    """One step of the quality ladder: the voice and the separation it uses."""

    name: str
    tts: SpeechSynthesizer
    voice: VoiceProfile
    separator: SpeechSeparator


def _rungs(voice: VoiceProfile, tts: SpeechSynthesizer, separator: SpeechSeparator,
           fast_voice: VoiceProfile | None, fast_tts: SpeechSynthesizer | None,
           light_separator: SpeechSeparator | None) -> dict[str, _Rung]:
    """natural (the stream's voice over model separation), fast (the fast voice), fastest (the
    fastest voice over ducking): the rungs that differ, best first."""
    rungs = {"natural": _Rung("natural", tts, voice, separator)}
    if fast_voice is not None and fast_tts is not None and fast_voice.provider != voice.provider:
        rungs["fast"] = _Rung("fast", fast_tts, fast_voice, separator)
    quickest = rungs.get("fast", rungs["natural"])
    if light_separator is not None:
        rungs["fastest"] = replace(quickest, name="fastest", separator=light_separator)
    return rungs


def _plan(config: StsConfig) -> tuple[VoiceProfile, VoiceProfile | None, str]:
    """The stream's voice, the fast rung's voice and the separator, from the configuration alone."""
    voice = resolve_voice(config.voice, config.target_language)
    return voice, _fast_voice(config, voice), _pick(Stage.separator, config.separator, ("deepfilternet", "duck"))


def _fast_voice(config: StsConfig, voice: VoiceProfile) -> VoiceProfile | None:
    """The fast rung's voice: ``config.fast_voice`` (auto: the language's Pico voice when installed)."""
    if config.fast_voice in ("", "none"):
        return None
    if config.fast_voice != AUTO:
        return resolve_voice(config.fast_voice, config.target_language)
    candidate = fast_voice(config.target_language)
    if candidate is None or candidate.provider == voice.provider:
        return None
    if not registry.spec(Stage.tts, candidate.provider).availability().ok:
        log.info("no fast voice: %s is not installed", candidate.provider)
        return None
    return candidate


def _join(parts: list[SynthesizedSpeech], voice: str, gap_s: float = 0.12) -> SynthesizedSpeech:
    """Sentences one after the other with a short pause between them."""
    spoken = [p for p in parts if len(p.samples)]
    if not spoken:
        return SynthesizedSpeech(np.zeros(0, np.float32), parts[0].sample_rate if parts else OUTPUT_RATE, "", voice)
    rate = spoken[0].sample_rate
    gap = np.zeros(round(gap_s * rate), np.float32)
    pieces: list[np.ndarray] = []
    for index, part in enumerate(spoken):
        audio = part.samples if part.sample_rate == rate else resample(part.samples, part.sample_rate, rate)
        pieces += [gap, audio] if index else [audio]
    return replace(spoken[0], samples=np.concatenate(pieces).astype(np.float32),
                   text=" ".join(p.text for p in spoken), voice=voice)
