"""IPA phonemes from the system espeak-ng library (ctypes), punctuation kept.

``espeak_TextToPhonemes`` returns one clause at a time and drops the punctuation, which Kokoro
uses for prosody; so the text is split at punctuation first and the marks are put back between
the phonemized pieces. libespeak-ng holds global state: every call goes through one lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import threading

from livedub.sts.errors import ProviderUnavailable

_ESPEAK_CHARS_UTF8 = 1
_IPA = 0x02
_TIE = 0x80 | (ord("^") << 8)  # join multi-letter phonemes with '^' (a^ɪ), mapped to Kokoro's letters
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_DONT_EXIT = 0x8000
_PUNCTUATION = re.compile(r'(\s*[;:,.!?¡¿—…"«»“”()]+\s*)')

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_current_voice = ""


def _library() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.cdll.LoadLibrary(name)
        except OSError as exc:
            raise ProviderUnavailable("libespeak-ng not found", fix="sudo apt-get install -y espeak-ng") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        if lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _DONT_EXIT) <= 0:
            raise ProviderUnavailable("espeak-ng failed to initialise (data files?)",
                                      fix="sudo apt-get install -y espeak-ng-data")
        _lib = lib
    return _lib


def _clauses(text: str, voice: str) -> list[str]:
    global _current_voice
    lib = _library()
    if voice != _current_voice:
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ProviderUnavailable(f"espeak-ng has no voice {voice!r}", fix="espeak-ng --voices lists them")
        _current_voice = voice
    buffer = ctypes.c_char_p(text.encode("utf-8"))
    pointer = ctypes.pointer(buffer)
    out: list[str] = []
    while pointer.contents.value:
        phonemes = lib.espeak_TextToPhonemes(pointer, _ESPEAK_CHARS_UTF8, _IPA | _TIE)
        if phonemes:
            out.append(phonemes.decode("utf-8"))
    return out


def phonemize(text: str, voice: str) -> str:
    """IPA with '^' ties and the text's punctuation, e.g. ``həlˈo^ʊ, wˈɜːld.``"""
    pieces = []
    with _lock:
        for piece in _PUNCTUATION.split(text):
            if not piece:
                continue
            if _PUNCTUATION.fullmatch(piece):
                pieces.append(piece)
            elif piece.strip():
                pieces.append(" ".join(_clauses(piece, voice)))
    return "".join(pieces).strip()
