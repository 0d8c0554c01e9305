"""Turn resolved fragments (in order) into contiguous output, crossfading their overlaps.

Fragment ``k`` covers ``[start_k, start_k + n_k)`` and its last ``overlap_k`` samples are the first
samples of fragment ``k+1``. The joiner emits ``n_k - overlap_k`` samples for fragment ``k``: its
first samples crossfaded with the held-back tail of ``k-1``, and holds back its own tail. Output
length therefore equals input length, and pass-through on both sides reproduces the input exactly.
"""

from __future__ import annotations

import logging

import numpy as np

from livedub.core.audio import crossfade
from livedub.core.messages import AudioFragment

log = logging.getLogger(__name__)


class Joiner:
    def __init__(self) -> None:
        self._tail: np.ndarray | None = None
        self._tail_owner: int | None = None  # sequence of the fragment the tail belongs to

    def join(self, fragment: AudioFragment, audio: np.ndarray) -> np.ndarray:
        """``audio``: float32 (n, 2) for the whole fragment. Returns the samples to emit now."""
        own = fragment.num_samples - fragment.overlap_samples
        out = audio[:own].copy()
        if self._tail is not None:
            if self._tail_owner == fragment.sequence - 1 and len(self._tail) <= len(out):
                count = len(self._tail)
                out[:count] = crossfade(self._tail, out[:count])
            else:  # cannot happen with the fragmenter's cuts; say so rather than lose audio silently
                log.error("fragment %s does not continue the previous one; overlap tail dropped", fragment.id,
                          extra={"fragmentId": fragment.id})
        if fragment.overlap_samples:
            self._tail = audio[own:].copy()
            self._tail_owner = fragment.sequence
        else:
            self._tail, self._tail_owner = None, None
        return out

