"""Cut a stream of PCM blocks (any sizes) into fragments that end in pauses.

Positions are counted in samples from the start of a *segment* (a run of input with continuous
timestamps); a fragment's PTS is the segment's first PTS plus its sample offset, so fragment
times never drift from the sample count. Cuts fall on VAD frame boundaries:

* once the fragment reaches the target length, the pause closest to the target between the
  minimum and maximum length wins (a pause = ``min_pause`` of non-speech frames; the cut is in
  its middle);
* at the maximum length with no pause, the cut goes to the quietest frame boundary (a "forced" cut).

With an overlap, a fragment also carries the ``overlap`` samples after its cut (which are the
first samples of the next fragment), so it is complete only once those have arrived.
A timestamp jump or :meth:`flush` ends the segment: its last fragment has no overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livedub.core.config import FragmenterConfig
from livedub.core.messages import CHANNELS, SAMPLE_RATE, AudioFragment, samples_to_ns
from livedub.core.vad import Vad, frame_level_db


@dataclass
class FragmenterStats:
    fragments: int = 0
    forced_cuts: int = 0
    discontinuities: int = 0


class _Buffer:
    """Growable int16 (n, channels) buffer; appends copy into spare capacity."""

    def __init__(self) -> None:
        self._data = np.empty((SAMPLE_RATE, CHANNELS), dtype=np.int16)
        self.length = 0

    def append(self, samples: np.ndarray) -> None:
        need = self.length + samples.shape[0]
        if need > self._data.shape[0]:
            grown = np.empty((max(need, 2 * self._data.shape[0]), CHANNELS), dtype=np.int16)
            grown[: self.length] = self._data[: self.length]
            self._data = grown
        self._data[self.length : need] = samples
        self.length = need

    def view(self, start: int, stop: int) -> np.ndarray:
        return self._data[start:stop]

    def drop_front(self, count: int) -> None:
        rest = self.length - count
        self._data[:rest] = self._data[count : self.length]
        self.length = rest


class Fragmenter:
    def __init__(self, config: FragmenterConfig, vad: Vad, stream_id: str, id_prefix: str | None = None) -> None:
        self._config = config
        self._vad = vad
        self._stream_id = stream_id
        self._id_prefix = id_prefix or stream_id
        self._frame = vad.frame_samples
        self._min = config.samples(config.min_ns)
        self._target = config.samples(config.target_ns)
        self._max = config.samples(config.max_ns)
        self._overlap = config.samples(config.overlap_ns)
        self._pause_frames = max(1, -(-config.samples(config.min_pause_ns) // self._frame))
        self._tolerance_ns = config.discontinuity_tolerance_ns
        self.stats = FragmenterStats()
        self._sequence = 0
        self._buffer = _Buffer()
        self._segment_pts: int | None = None
        self._received = 0  # samples received in this segment
        self._fragment_start = 0  # segment offset of the buffer's first sample
        self._reset_analysis()

    def _reset_analysis(self) -> None:
        self._speech: list[bool] = []  # per analysed frame of the current fragment
        self._levels: list[float] = []
        self._cut: int | None = None  # decided cut, relative to the fragment start

    # -- input -------------------------------------------------------------------------------

    def push(self, samples: np.ndarray, pts_ns: int) -> list[AudioFragment]:
        """Add a block; returns the fragments it completed (oldest first)."""
        if samples.dtype != np.int16 or samples.ndim != 2 or samples.shape[1] != CHANNELS:
            raise ValueError(f"expected int16 PCM of shape (n, {CHANNELS}), got {samples.dtype} {samples.shape}")
        if not isinstance(pts_ns, (int, np.integer)) or isinstance(pts_ns, bool):
            raise TypeError(f"pts_ns must be integer nanoseconds, got {type(pts_ns).__name__}")
        pts_ns = int(pts_ns)
        out: list[AudioFragment] = []
        if self._segment_pts is None:
            self._segment_pts = pts_ns
        elif abs(pts_ns - self._expected_pts()) > self._tolerance_ns:
            self.stats.discontinuities += 1
            out.extend(self._end_segment())
            self._segment_pts = pts_ns
        self._buffer.append(samples)
        self._received += samples.shape[0]
        out.extend(self._cut_ready())
        return out

    def flush(self) -> list[AudioFragment]:
        """End of input: whatever is buffered becomes the last fragment(s)."""
        return self._end_segment()

    def expected_next_pts(self) -> int | None:
        return None if self._segment_pts is None else self._expected_pts()

    def _expected_pts(self) -> int:
        assert self._segment_pts is not None
        return self._segment_pts + samples_to_ns(self._received)

    # -- cutting -----------------------------------------------------------------------------

    def _cut_ready(self) -> list[AudioFragment]:
        out: list[AudioFragment] = []
        while True:
            if self._cut is None:
                self._analyse()
            if self._cut is None or self._buffer.length < self._cut + self._overlap:
                return out
            out.append(self._emit(self._cut, self._overlap))

    def _analyse(self) -> None:
        while (len(self._speech) + 1) * self._frame <= self._buffer.length and self._cut is None:
            start = len(self._speech) * self._frame
            frame = self._buffer.view(start, start + self._frame)
            self._speech.append(bool(self._vad.is_speech(frame)))
            self._levels.append(frame_level_db(frame))
            if len(self._speech) * self._frame >= self._target:
                self._cut = self._choose_cut()

    def _choose_cut(self) -> int | None:
        analysed = len(self._speech) * self._frame
        if analysed < self._target:
            return None
        pauses = self._pause_cuts(limit=min(analysed, self._max))
        before = [p for p in pauses if p <= self._target]
        after = [p for p in pauses if p > self._target]
        best_before = before[-1] if before else None
        if after:
            first_after = after[0]
            if best_before is None or first_after - self._target < self._target - best_before:
                return first_after
            return best_before
        if best_before is not None and analysed - self._target >= self._target - best_before:
            return best_before  # no later pause can be closer to the target
        if analysed >= self._max:
            if best_before is not None:
                return best_before
            self.stats.forced_cuts += 1
            return self._quietest_boundary()
        return None

    def _pause_cuts(self, limit: int) -> list[int]:
        """Cut positions in the middle of each pause (a run of non-speech frames), within [min, limit].

        A run still open at the end of the analysed audio counts with its length so far.
        """
        cuts: list[int] = []
        run_start: int | None = None
        for index, speech in enumerate([*self._speech, True]):  # the sentinel closes a trailing run
            if not speech:
                run_start = index if run_start is None else run_start
                continue
            if run_start is not None:
                run = index - run_start
                position = (run_start + run // 2) * self._frame
                if run >= self._pause_frames and self._min <= position <= limit:
                    cuts.append(position)
                run_start = None
        return cuts

    def _quietest_boundary(self) -> int:
        """The frame boundary in [min, max] whose two neighbouring frames are quietest."""
        first = max(1, -(-self._min // self._frame))
        last = max(first, self._max // self._frame)
        levels = self._levels
        return self._frame * min(
            range(first, last + 1), key=lambda b: max(levels[b - 1], levels[min(b, len(levels) - 1)])
        )

    def _classify_until(self, limit: int) -> None:
        """VAD verdicts for every whole frame before ``limit`` (a flush may cut past the analysis)."""
        while (len(self._speech) + 1) * self._frame <= min(limit, self._buffer.length):
            start = len(self._speech) * self._frame
            frame = self._buffer.view(start, start + self._frame)
            self._speech.append(bool(self._vad.is_speech(frame)))
            self._levels.append(frame_level_db(frame))

    def _speech_stats(self, cut: int) -> tuple[int, int]:
        """(voiced ns, trailing non-speech ns) of the fragment's first ``cut`` samples."""
        self._classify_until(cut)
        frames = self._speech[: cut // self._frame]
        voiced = sum(frames)
        trailing = 0
        for speech in reversed(frames):
            if speech:
                break
            trailing += 1
        trailing_samples = trailing * self._frame + (cut - len(frames) * self._frame if not frames or
                                                     not frames[-1] else 0)
        return samples_to_ns(voiced * self._frame), samples_to_ns(trailing_samples)

    def _emit(self, cut: int, overlap: int) -> AudioFragment:
        assert self._segment_pts is not None
        length = cut + overlap
        speech_ns, trailing_pause_ns = self._speech_stats(cut)
        fragment = AudioFragment(
            id=f"{self._id_prefix}-{self._sequence:06d}",
            stream_id=self._stream_id,
            sequence=self._sequence,
            start_pts=self._segment_pts + samples_to_ns(self._fragment_start),
            duration=samples_to_ns(self._fragment_start + length) - samples_to_ns(self._fragment_start),
            samples=self._buffer.view(0, length).copy(),
            overlap_samples=overlap,
            speech_ns=speech_ns,
            trailing_pause_ns=trailing_pause_ns,
        )
        self._sequence += 1
        self.stats.fragments += 1
        self._buffer.drop_front(cut)
        self._fragment_start += cut
        frames_done = cut // self._frame
        speech, levels = self._speech[frames_done:], self._levels[frames_done:]
        self._reset_analysis()
        if cut % self._frame == 0:  # keep the analysis of frames already past the cut
            self._speech, self._levels = speech, levels
        return fragment

    def _end_segment(self) -> list[AudioFragment]:
        out: list[AudioFragment] = []
        remaining = self._buffer.length
        if remaining:
            if self._cut is not None and self._cut < remaining and remaining - self._cut < self._overlap:
                # the tail of a decided cut is incomplete: cut there with a partial overlap
                out.append(self._emit(self._cut, remaining - self._cut))
                remaining = self._buffer.length
            out.append(self._emit(remaining, 0))
        self._segment_pts = None
        self._received = 0
        self._fragment_start = 0
        self._reset_analysis()
        return out
