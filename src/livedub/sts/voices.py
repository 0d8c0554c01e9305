"""Voice profiles: which TTS provider, model, speaker and reference sample speak a language.

A stream picks one with ``WORKER_TTS_VOICE``:

* empty: the target language's default profile (:data:`DEFAULT_VOICE`);
* a profile name from :data:`PROFILES` (``livedub models list`` shows them);
* ``provider:speaker`` for an ad-hoc profile, e.g. ``kokoro:em_alex``, ``piper:joe``,
  ``pico:es-ES`` (the speaker of a Pico voice is its language code; ``pico:es`` works too);
* ``xtts:/path/to/reference.wav`` to clone a voice from a sample (production, gpu-models).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from livedub.sts.errors import UnsupportedLanguage


@dataclass(frozen=True)
class VoiceProfile:
    name: str
    language: str  # ISO 639-1 of what it speaks ("es", "en", "pt")
    provider: str  # TTS registry name
    speaker: str = ""  # provider's speaker/voice id (Kokoro "ef_dora", Coqui speaker name)
    model: str = ""  # provider's model id when it has several (Coqui model name, Piper voice)
    reference_sample: Path | None = None  # voice cloning (XTTS)
    phonemizer_voice: str = ""  # espeak-ng voice ("es", "en-us", "pt-br")
    speed: float = 1.0  # the provider's own speaking rate (before time-stretching)

    def describe(self) -> str:
        what = self.speaker or self.model or (str(self.reference_sample) if self.reference_sample else "")
        return f"{self.name}: {self.language} via {self.provider} ({what})"


PROFILES: dict[str, VoiceProfile] = {
    p.name: p
    for p in (
        VoiceProfile("es-dora", "es", "kokoro", speaker="ef_dora", phonemizer_voice="es"),
        VoiceProfile("es-alex", "es", "kokoro", speaker="em_alex", phonemizer_voice="es"),
        VoiceProfile("es-419-dora", "es", "kokoro", speaker="ef_dora", phonemizer_voice="es-419"),
        VoiceProfile("en-joe", "en", "piper", model="en_US-joe-medium", phonemizer_voice="en-us"),
        VoiceProfile("en-heart", "en", "kokoro", speaker="af_heart", phonemizer_voice="en-us"),
        VoiceProfile("en-michael", "en", "kokoro", speaker="am_michael", phonemizer_voice="en-us"),
        VoiceProfile("en-gb-emma", "en", "kokoro", speaker="bf_emma", phonemizer_voice="en-gb"),
        VoiceProfile("pt-dora", "pt", "kokoro", speaker="pf_dora", phonemizer_voice="pt-br"),
        VoiceProfile("pt-alex", "pt", "kokoro", speaker="pm_alex", phonemizer_voice="pt-br"),
        VoiceProfile("fr-siwis", "fr", "kokoro", speaker="ff_siwis", phonemizer_voice="fr-fr"),
        VoiceProfile("it-sara", "it", "kokoro", speaker="if_sara", phonemizer_voice="it"),
        VoiceProfile("it-nicola", "it", "kokoro", speaker="im_nicola", phonemizer_voice="it"),
        VoiceProfile("hi-alpha", "hi", "kokoro", speaker="hf_alpha", phonemizer_voice="hi"),
        # fast tier: SVOX Pico, 60-80x faster than Kokoro, dated but clear (see FAST_VOICE)
        VoiceProfile("es-pico", "es", "pico", speaker="es-ES"),
        VoiceProfile("fr-pico", "fr", "pico", speaker="fr-FR"),
        VoiceProfile("de-pico", "de", "pico", speaker="de-DE"),
        VoiceProfile("it-pico", "it", "pico", speaker="it-IT"),
        VoiceProfile("en-pico", "en", "pico", speaker="en-US"),
        VoiceProfile("en-gb-pico", "en", "pico", speaker="en-GB"),
        # production (gpu-models extra; weights download into TTS_HOME on first use)
        VoiceProfile("es-xtts", "es", "coqui", model="tts_models/multilingual/multi-dataset/xtts_v2",
                     speaker="Ana Florence"),
        VoiceProfile("en-xtts", "en", "coqui", model="tts_models/multilingual/multi-dataset/xtts_v2",
                     speaker="Ana Florence"),
        VoiceProfile("es-vits", "es", "coqui", model="tts_models/es/css10/vits"),
        VoiceProfile("en-vits", "en", "coqui", model="tts_models/en/ljspeech/vits"),
    )
}

DEFAULT_VOICE: dict[str, str] = {
    "es": "es-dora", "en": "en-joe", "pt": "pt-dora", "fr": "fr-siwis", "it": "it-sara", "hi": "hi-alpha",
    "de": "de-pico",  # no natural (Kokoro/Piper) German voice ships offline
}

# The fast voice of each language Pico speaks: for when the natural voice is too slow to keep up.
FAST_VOICE: dict[str, str] = {"es": "es-pico", "fr": "fr-pico", "de": "de-pico", "it": "it-pico", "en": "en-pico"}
# The voices the ttspico package ships (Pico names a voice by its language code).
PICO_VOICES: tuple[str, ...] = ("es-ES", "fr-FR", "de-DE", "it-IT", "en-US", "en-GB")

_ESPEAK_VOICE = {"en": "en-us", "es": "es", "pt": "pt-br", "fr": "fr-fr", "it": "it", "hi": "hi", "ca": "ca"}
_XTTS = "tts_models/multilingual/multi-dataset/xtts_v2"


def resolve_voice(name: str, target_language: str) -> VoiceProfile:
    """The profile a stream speaks with; raises :class:`UnsupportedLanguage` with the choices."""
    language = target_language.split("-")[0].lower()
    if not name:
        default = DEFAULT_VOICE.get(language)
        if default is None:
            raise UnsupportedLanguage(
                f"no default voice for target language {target_language!r}; "
                f"languages with one: {', '.join(sorted(DEFAULT_VOICE))}"
            )
        return PROFILES[default]
    if name in PROFILES:
        profile = PROFILES[name]
    elif ":" in name:
        provider, _, what = name.partition(":")
        if provider == "xtts" or (provider == "coqui" and what.lower().endswith((".wav", ".flac", ".mp3"))):
            profile = VoiceProfile(name, language, "coqui", model=_XTTS, reference_sample=Path(what))
        elif provider == "coqui":
            profile = VoiceProfile(name, language, "coqui", model=what)
        elif provider == "pico":
            code = _pico_code(what)
            if code is None:
                raise UnsupportedLanguage(f"no Pico voice {what!r}; voices: {', '.join(PICO_VOICES)}")
            profile = VoiceProfile(name, code.split("-")[0], "pico", speaker=code)
        else:
            profile = VoiceProfile(name, language, provider, speaker=what, model=what,
                                   phonemizer_voice=_ESPEAK_VOICE.get(language, language))
    else:
        raise UnsupportedLanguage(
            f"unknown voice {name!r}; profiles: {', '.join(sorted(PROFILES))} "
            "(or provider:speaker, e.g. kokoro:em_alex, or xtts:/path/reference.wav)"
        )
    if profile.language != language:
        raise UnsupportedLanguage(
            f"voice {name!r} speaks {profile.language!r}, but the target language is {target_language!r}"
        )
    return profile


def fast_voice(language: str) -> VoiceProfile | None:
    """The fast (Pico) profile for a target language, None where Pico has no voice (pt, hi).
    A regional tag picks that region's voice when Pico has it (``en-GB``: ``en-gb-pico``)."""
    regional = _pico_code(language)
    if regional is not None and "-" in language:
        return next(p for p in PROFILES.values() if p.provider == "pico" and p.speaker == regional)
    name = FAST_VOICE.get(language.split("-")[0].lower())
    return PROFILES[name] if name else None


def pico_voice(profile: VoiceProfile) -> str:
    """The Pico voice (language code) a profile names, or "" when it names none Pico has."""
    return _pico_code(profile.speaker or profile.model or profile.language) or ""


def _pico_code(what: str) -> str | None:
    """``es-ES``, ``es_es`` or ``es`` -> ``es-ES``; None when Pico has no such voice."""
    wanted = what.replace("_", "-").lower()
    for code in PICO_VOICES:
        if code.lower() == wanted:
            return code
    fast = FAST_VOICE.get(wanted)
    return PROFILES[fast].speaker if fast else None


def with_language(profile: VoiceProfile, language: str) -> VoiceProfile:
    return replace(profile, language=language)
