"""Group fragments into speech segments: the units the STS works on.

Fragments (1-2 s, cut in pauses) are the unit of transport, ordering, deadlines and fallbacks; they
are not the unit of meaning. The segmenter reads what the fragmenter's VAD heard in each fragment
and hands out, in input order:

* a fragment without speech (less than ``min_speech`` voiced) on its own: it needs no STS call;
* a :class:`SpeechSegment`: consecutive fragments with speech, closed when

  - a fragment ends in a pause of at least ``pause`` (the utterance ended),
  - the next fragment has no speech,
  - one more fragment of typical length (``fragment_target``) would take it past ``max`` (so a
    segment exceeds ``max`` by at most ``fragment_max - fragment_target``, see :attr:`longest_ns`;
    the cut between fragments is the fragmenter's: a pause, or the quietest point),
  - the input ends or jumps (:meth:`flush`), or the core needs it now (:meth:`close`).

A segment that ended in a pause, or before non-speech, may let its dub run on (``spill``) into the
following non-speech; one cut for length is followed by more speech, so its dub must fit its span.
Pure: no clock, no threads.
"""

from __future__ import annotations

from dataclasses import dataclass

from livedub.core.messages import NS_PER_S, AudioFragment, SpeechSegment


def _ns(seconds: float) -> int:
    return round(seconds * NS_PER_S)


@dataclass(frozen=True)
class SegmenterConfig:
    max_ns: int = _ns(2.5)  # WORKER_SEGMENT_MAX_DUR (bench/live_dub.py: fits a 5 s delay on 2 cores)
    pause_ns: int = _ns(0.3)  # WORKER_SEGMENT_PAUSE: a trailing pause this long ends an utterance
    min_speech_ns: int = _ns(0.1)  # a fragment with less voiced time carries no speech
    spill_ns: int = _ns(1.0)  # WORKER_SEGMENT_SPILL: how far a dub may run on into following non-speech
    fragment_max_ns: int = _ns(2.0)  # the fragmenter's longest fragment (overlap included)
    fragment_target_ns: int = _ns(1.5)  # its typical fragment

    def __post_init__(self) -> None:
        if self.max_ns < self.fragment_target_ns:
            raise ValueError("WORKER_SEGMENT_MAX_DUR must be at least WORKER_FRAGMENT_TARGET_DUR")
        if min(self.pause_ns, self.min_speech_ns, self.spill_ns) < 0:
            raise ValueError("segment pause, minimum speech and spill must not be negative")

    @property
    def longest_ns(self) -> int:
        """The longest segment these rules can close (the delay must cover it plus the STS's time)."""
        return max(self.fragment_max_ns, self.max_ns + self.fragment_max_ns - self.fragment_target_ns)


Unit = AudioFragment | SpeechSegment  # what the segmenter hands out: a fragment without speech, or a segment


def has_speech(fragment: AudioFragment, min_speech_ns: int) -> bool:
    """Unanalysed fragments (``speech_ns`` None) count as speech: the STS decides."""
    return fragment.speech_ns is None or fragment.speech_ns >= min_speech_ns


class Segmenter:
    def __init__(self, config: SegmenterConfig) -> None:
        self._config = config
        self._open: list[AudioFragment] = []
        self._sequence = 0

    @property
    def open_fragments(self) -> tuple[AudioFragment, ...]:
        """Fragments with speech waiting for their segment to close (oldest first)."""
        return tuple(self._open)

    def push(self, fragment: AudioFragment) -> list[Unit]:
        config = self._config
        if not has_speech(fragment, config.min_speech_ns):
            return [*self._close(spill=True), fragment]
        closed: list[Unit] = []
        if self._open and not self._open[-1].start_pts < fragment.start_pts <= self._open[-1].end_pts:
            closed = self._close(spill=False)  # the input jumped: audio across the jump is not one utterance
        self._open.append(fragment)
        length = fragment.end_pts - self._open[0].start_pts
        if fragment.trailing_pause_ns >= config.pause_ns:
            return [*closed, *self._close(spill=True)]
        if length + config.fragment_target_ns > config.max_ns:
            return [*closed, *self._close(spill=False)]
        return closed

    def close(self) -> list[Unit]:
        """Close the open segment now (its first fragment's deadline is near); more speech may follow."""
        return self._close(spill=False)

    def flush(self) -> list[Unit]:
        """End of input (or a timestamp jump): the open segment closes; nothing follows it."""
        return self._close(spill=False)

    def _close(self, *, spill: bool) -> list[Unit]:
        if not self._open:
            return []
        segment = SpeechSegment.of(tuple(self._open), self._sequence,
                                   spill_ns=self._config.spill_ns if spill else 0)
        self._sequence += 1
        self._open = []
        return [segment]
