"""The audio played for a fragment that is not dubbed (``WORKER_FALLBACK``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from livedub.config.settings import Fallback
from livedub.core.audio import db_to_gain, fit_length, to_float
from livedub.core.messages import AudioFragment
from livedub.core.processor import Separator
from livedub.core.sanitiser import FADE_SAMPLES

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class FallbackAudio:
    samples: np.ndarray  # float32 (n, 2), the fragment's full length
    mode: Fallback  # what was actually played
    note: str | None = None  # why it differs from the configured mode


class FallbackRenderer:
    """Renders the configured fallback; degrades to a simpler one (and says so) when it cannot.

    * ``background-only`` without a separator, or when the separator fails: ``ducked-original``.
    * ``last-good-dub`` before any fragment was dubbed: ``pass-through``. The last good dub is
      trimmed (or padded with silence) to the fragment's length, with a short fade.
    """

    def __init__(self, mode: Fallback, *, separator: Separator | None = None, duck_gain_db: float = -12.0) -> None:
        self.mode = mode
        self._separator = separator
        self._duck_gain = db_to_gain(duck_gain_db)
        if mode is Fallback.background_only and separator is None:
            log.warning(
                "fallback background-only needs a speech/background separator and none is configured; "
                "ducked-original is used instead",
                extra={"fallback": mode.value, "using": Fallback.ducked_original.value},
            )

    def render(self, fragment: AudioFragment, last_good_dub: np.ndarray | None) -> FallbackAudio:
        original = to_float(fragment.samples)
        if self.mode is Fallback.pass_through:
            return FallbackAudio(original, Fallback.pass_through)
        if self.mode is Fallback.silence:
            return FallbackAudio(np.zeros_like(original), Fallback.silence)
        if self.mode is Fallback.ducked_original:
            return FallbackAudio(original * self._duck_gain, Fallback.ducked_original)
        if self.mode is Fallback.background_only:
            return self._background(fragment, original)
        if last_good_dub is None:
            return FallbackAudio(original, Fallback.pass_through, note="no dubbed fragment yet")
        return FallbackAudio(fit_length(last_good_dub, len(original), FADE_SAMPLES), Fallback.last_good_dub)

    def _background(self, fragment: AudioFragment, original: np.ndarray) -> FallbackAudio:
        if self._separator is None:
            return FallbackAudio(original * self._duck_gain, Fallback.ducked_original, note="no separator")
        try:
            background = np.asarray(self._separator.background(fragment), dtype=np.float32)
        except Exception as exc:  # noqa: BLE001 - any separator failure degrades to ducking, logged
            log.warning("separator failed; ducked-original used", extra={"fragmentId": fragment.id, "error": repr(exc)})
            return FallbackAudio(original * self._duck_gain, Fallback.ducked_original, note="separator failed")
        if background.shape != original.shape or not np.isfinite(background).all():
            return FallbackAudio(original * self._duck_gain, Fallback.ducked_original, note="separator output invalid")
        return FallbackAudio(background, Fallback.background_only)
