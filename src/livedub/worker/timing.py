"""The timestamp contract: output time = input running time + one constant delay, for both tracks.

    out_ts = in_ts - anchor.in_pts + delay          (audio and video alike, PTS and DTS alike)

The anchor ties the input timeline to the clock: ``anchor.in_pts`` is the first video buffer's
input running time (its DTS, which follows the order the publisher sends in, so B-frames do not
shift it) and ``anchor.clock`` the clock time at which a buffer with that timestamp arrives. The
output pipeline's base time is ``anchor.clock``, so a buffer leaves the output sink ``delay`` (plus
the output pipeline's own latency) after the moment its input arrived.

Arrival is estimated, not taken from the first buffer alone: the first buffers reach the worker
late (the demuxer waits while the worker links its branches, then the backlog flows in a burst),
so the timeline :meth:`Timeline.observe`s video buffers until the output starts and keeps the
earliest arrival relative to the timestamps. Otherwise the added delay would silently grow by
that start-up lateness (about 100 ms measured on nginx-rtmp).

Whatever A/V offset the input had, the output keeps: both tracks use the same mapping.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from dataclasses import dataclass

NS = 1_000_000_000
MS = 1_000_000

# flvmux aggregation, the AAC encoder's frame and B-frame DTS need this much headroom
MIN_DELAY_NS = 200 * MS


def effective_delay_ns(buffer_target_s: float) -> int:
    """WORKER_BUFFER_TARGET in ns, raised to :data:`MIN_DELAY_NS` (documented in docs/worker.md)."""
    return max(MIN_DELAY_NS, round(buffer_target_s * NS))


@dataclass(frozen=True)
class Anchor:
    in_pts: int   # input running time (DTS, else PTS) of the first video buffer (ns)
    clock: int    # clock time (ns) at which that timestamp arrives; the output pipeline's base time


class Timeline:
    """Maps input running time to output running time. Thread-safe.

    ``observe`` video buffers as they arrive; ``freeze`` when the output starts; from then on
    ``to_output`` maps and the anchor never moves.
    """

    def __init__(self, delay_ns: int) -> None:
        if delay_ns < 0:
            raise ValueError("delay must be >= 0")
        self.delay_ns = delay_ns
        self._first_in: int | None = None
        self._best_offset: int | None = None  # min(clock - in_ts) seen: the earliest arrival
        self._first_clock: int | None = None
        self._anchor: Anchor | None = None
        self._lock = threading.Lock()

    @property
    def anchor(self) -> Anchor | None:
        return self._anchor

    @property
    def first_arrival(self) -> int | None:
        """Clock time the first observed buffer arrived (None before any)."""
        return self._first_clock

    def observe(self, in_ts: int, clock_now: int) -> bool:
        """Note a video buffer's arrival; True for the very first one. No effect once frozen."""
        with self._lock:
            if self._anchor is not None:
                return False
            offset = clock_now - in_ts
            if self._first_in is None:
                self._first_in, self._best_offset, self._first_clock = in_ts, offset, clock_now
                return True
            assert self._best_offset is not None
            self._best_offset = min(self._best_offset, offset)
            return False

    def freeze(self) -> Anchor:
        """Fix the anchor from what was observed (at least one buffer); idempotent."""
        with self._lock:
            if self._anchor is None:
                if self._first_in is None or self._best_offset is None:
                    raise RuntimeError("no buffer observed yet")
                self._anchor = Anchor(in_pts=self._first_in, clock=self._first_in + self._best_offset)
            return self._anchor

    def to_output(self, in_ts: int | None) -> int | None:
        """Output running time for an input running time; None for none, unfrozen, or before the output's start."""
        anchor = self._anchor
        if in_ts is None or anchor is None:
            return None
        out = in_ts - anchor.in_pts + self.delay_ns
        return out if out >= 0 else None


class AvSyncTracker:
    """The A/V sync delta: (output - input) of the last audio buffer minus that of the last video buffer.

    The output times are what the output pipeline reports each buffer will play at (after its own
    adjustments, such as the AAC priming compensation), so an audio path, a mapping or an output
    stage that moves audio in time shows up here in milliseconds; 0 when the contract holds.
    """

    def __init__(self) -> None:
        self._audio_offset: int | None = None
        self._video_offset: int | None = None

    def record(self, track: str, in_pts: int, out_pts: int) -> None:
        if track == "audio":
            self._audio_offset = out_pts - in_pts
        else:
            self._video_offset = out_pts - in_pts

    def delta_ms(self) -> float | None:
        if self._audio_offset is None or self._video_offset is None:
            return None
        return (self._audio_offset - self._video_offset) / MS


@dataclass(frozen=True)
class DelaySummary:
    last_ms: float
    median_ms: float
    min_ms: float
    max_ms: float


class DelayMeter:
    """The delay each video buffer really gets: when the sink sends it minus when its input arrived.

    The sink sends at ``base time + output running time (DTS) + pipeline latency``, all known when
    the buffer is pushed, so the delay is computed then, per buffer, without waiting for the sink.
    Keeps the last ``window`` values (bounded) for a median.
    """

    def __init__(self, window: int = 500) -> None:
        self._values: deque[int] = deque(maxlen=window)
        self._min: int | None = None
        self._max: int | None = None
        self._lock = threading.Lock()

    def record(self, arrival_clock: int, send_clock: int) -> int:
        delay = send_clock - arrival_clock
        with self._lock:
            self._values.append(delay)
            self._min = delay if self._min is None else min(self._min, delay)
            self._max = delay if self._max is None else max(self._max, delay)
        return delay

    def summary(self) -> DelaySummary | None:
        with self._lock:
            if not self._values or self._min is None or self._max is None:
                return None
            return DelaySummary(last_ms=self._values[-1] / MS, median_ms=statistics.median(self._values) / MS,
                                min_ms=self._min / MS, max_ms=self._max / MS)
