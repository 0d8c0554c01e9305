"""The protocols the core calls out to: the STS processor and an optional speech/background separator.

Why threads, not asyncio: the STS stages are blocking calls into native runtimes (CTranslate2,
ONNX Runtime, torch) that release the GIL, and the worker's audio arrives on GStreamer streaming
threads, where no event loop runs. So ``process`` is a plain blocking call that the core runs on an
:class:`~livedub.core.executor.Executor` (a pool of ``WORKER_MAX_INFLIGHT`` threads in production).
The core never waits on it: it polls the returned futures when the caller pushes or pulls, so a
slow or hung call costs only its window slot, never the output.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from livedub.core.messages import AudioFragment, DubbedAudio, SpeechSegment


class StsProcessor(Protocol):
    def process(self, segment: SpeechSegment) -> DubbedAudio:
        """Dub one speech segment. Blocking; called from executor threads, several at once (thread-safe).

        Returns the audio to play over the segment's span (dub already mixed over the background),
        optionally a ``tail`` of dubbed voice running on past its end (at most ``segment.spill_ns``),
        voiced at ``segment.tier``. Raise :class:`StsError` for a classified failure; any other
        exception counts as one too. A processor may offer ``quality_rungs`` (names, best first).
        """


class Separator(Protocol):
    def background(self, fragment: AudioFragment) -> np.ndarray:
        """The fragment without its speech: float32 (n, 2) at 48 kHz, full scale 1.0.

        Called on the caller's thread when a fragment falls back to ``background-only``, so it must
        be fast (a real-time-capable model or spectral gating), not a full separation pass.
        """


class StsError(Exception):
    """A failed STS call. ``retryable=False`` (e.g. a model that cannot load) opens the breaker
    at once instead of after ``WORKER_BREAKER_FAILURES`` consecutive failures."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Unavailable(StsError):
    """What is configured cannot run here, and trying again will not change it: a missing model,
    package or tool, a language nothing installed speaks, or settings the mode refuses. Always
    permanent: the core's breaker opens at once, and raised while a worker starts it is exit 2
    (``livedub dub``: exit 2). Raised once where the problem is found and carried unwrapped to the
    exit code; the message says what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)
