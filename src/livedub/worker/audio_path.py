"""The seam where the worker's audio is processed: PCM in with input timestamps, PCM out with them.

Every mode plugs in here (which one runs the core: ``processors.STS_MODES``): ``bypass`` returns
its input unchanged; ``mock`` and ``real`` run the streaming core (``dub_path.py``), which fragments, dubs and remixes behind the same calls. The
worker calls :meth:`AudioPath.push` for every decoded chunk (about every 21 ms) and then
:meth:`AudioPath.pull` for whatever is ready; its audio pump also pulls at
:meth:`AudioPath.next_pull_in_s`. At end of stream it calls :meth:`AudioPath.finish` and keeps
pulling until :attr:`AudioPath.drained`; :meth:`AudioPath.close` at exit. Chunks returned must be
in order and keep the input timeline (``pts_ns``); the worker adds the constant delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from prometheus_client import CollectorRegistry

from livedub.config.settings import PathSettings, WorkerSettings
from livedub.core.messages import BYTES_PER_FRAME, CHANNELS, NS_PER_S, SAMPLE_FORMAT, SAMPLE_RATE
from livedub.processors import STS_MODES

if TYPE_CHECKING:
    from livedub.processors import DubEngine, LoadingEngine

RAW_CAPS = (f"audio/x-raw,format={SAMPLE_FORMAT},rate={SAMPLE_RATE},channels={CHANNELS},"
            "layout=interleaved,channel-mask=(bitmask)0x3")


@dataclass(frozen=True)
class PcmChunk:
    """Interleaved S16LE 48 kHz stereo samples, shape ``(frames, 2)``, starting at ``pts_ns``.

    ``pts_ns`` is on the input timeline (input running time in nanoseconds).
    """

    pts_ns: int
    samples: np.ndarray

    def __post_init__(self) -> None:
        if self.samples.dtype != np.int16 or self.samples.ndim != 2 or self.samples.shape[1] != CHANNELS:
            raise ValueError(f"expected int16 samples of shape (frames, {CHANNELS}), got "
                             f"{self.samples.dtype} {self.samples.shape}")

    @classmethod
    def from_bytes(cls, pts_ns: int, data: bytes) -> PcmChunk:
        if len(data) % BYTES_PER_FRAME:
            raise ValueError(f"PCM length {len(data)} is not a whole number of stereo S16 frames")
        return cls(pts_ns, np.frombuffer(data, dtype=np.int16).reshape(-1, CHANNELS))

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_ns(self) -> int:
        return self.frames * NS_PER_S // SAMPLE_RATE

    def to_bytes(self) -> bytes:
        return np.ascontiguousarray(self.samples, dtype="<i2").tobytes()


class OverlapTrimmer:
    """Makes decoded input audio never overlap itself before it enters the audio path.

    A decoder may stamp two chunks with the same time (seen at the start of RTSP streams); an
    overlap beyond ``tolerance_ns`` is cut from the later chunk so every sample has one place on
    the timeline. Gaps pass through unchanged (the audio path and the encoder see the discontinuity).
    """

    def __init__(self, tolerance_ns: int = 1_000_000) -> None:
        self.tolerance_ns = tolerance_ns
        self.trimmed_frames = 0
        self._next_pts: int | None = None

    def fix(self, chunk: PcmChunk) -> PcmChunk | None:
        """The chunk, its overlapping head cut; None when all of it was already played."""
        if self._next_pts is not None:
            overlap_ns = self._next_pts - chunk.pts_ns
            if overlap_ns > self.tolerance_ns:
                cut = min(chunk.frames, -(-overlap_ns * SAMPLE_RATE // NS_PER_S))
                self.trimmed_frames += cut
                if cut >= chunk.frames:
                    return None
                chunk = PcmChunk(chunk.pts_ns + cut * NS_PER_S // SAMPLE_RATE, chunk.samples[cut:])
        self._next_pts = chunk.pts_ns + chunk.duration_ns
        return chunk


class AudioPath(Protocol):
    """What the worker needs from an audio processor. No method blocks for long (never on STS)."""

    def anchor(self, offset_ns: int) -> None:
        """Before the first push: clock time minus input PTS, the mapping the output plays by (the
        worker's video anchor), so that what is due at an input PTS is due when the output needs it."""

    def push(self, chunk: PcmChunk) -> None:
        """Take one decoded chunk (input timeline)."""

    def pull(self) -> list[PcmChunk]:
        """Chunks ready for the output, in order; empty when none is ready yet."""

    def next_pull_in_s(self) -> float | None:
        """Seconds until :meth:`pull` may have more without a push (None: only after a push)."""

    def pause(self) -> None:
        """The input stopped and may come back: what is buffered (an unfinished fragment or
        utterance) is processed now and comes out of :meth:`pull` on time; pushes may follow, after
        a gap in the timestamps."""

    def finish(self) -> None:
        """End of input: no push follows. Held audio keeps coming out of :meth:`pull`, on time."""

    @property
    def drained(self) -> bool:
        """After :meth:`finish`: everything has been pulled."""

    def close(self) -> None:
        """The worker is exiting (drained or not): write summaries, release resources. Idempotent."""

    def failure(self) -> str | None:
        """A permanent problem found after start (models that cannot load): the worker exits 2 with it."""


class BypassAudioPath:
    """Identity: the audio leaves exactly as it came (bypass mode)."""

    def __init__(self) -> None:
        self._ready: list[PcmChunk] = []

    def anchor(self, offset_ns: int) -> None:
        return None  # nothing is held: every chunk is ready at once

    def push(self, chunk: PcmChunk) -> None:
        self._ready.append(chunk)

    def pull(self) -> list[PcmChunk]:
        ready, self._ready = self._ready, []
        return ready

    def next_pull_in_s(self) -> float | None:
        return None

    def pause(self) -> None:
        return None

    def finish(self) -> None:
        return None

    @property
    def drained(self) -> bool:
        return not self._ready

    def close(self) -> None:
        return None

    def failure(self) -> str | None:
        return None


@dataclass(frozen=True)
class AudioPathContext:
    """What a mode's factory gets: the settings, the worker's metrics registry and its run id, and
    the STS engine when it was started before the stream was known (:func:`start_sts`)."""

    worker: WorkerSettings
    paths: PathSettings
    registry: CollectorRegistry
    run_id: str
    engine: DubEngine | LoadingEngine | None = None


def start_sts(worker: WorkerSettings, paths: PathSettings) -> DubEngine | LoadingEngine | None:
    """Start what the mode's audio path will need before its stream is known (a standby worker):
    the STS engine for mock and real (real models load in the background), None for bypass.
    Raises :class:`~livedub.core.processor.Unavailable` for settings the mode refuses."""
    if not STS_MODES[worker.sts_mode].live_core:
        return None
    from livedub.worker.dub_path import start_engine

    return start_engine(worker, paths)


def create_audio_path(context: AudioPathContext) -> AudioPath:
    """The audio path for ``WORKER_STS_MODE``; raises :class:`~livedub.core.processor.Unavailable`
    (the worker exits 2)."""
    if not STS_MODES[context.worker.sts_mode].live_core:
        return BypassAudioPath()
    from livedub.worker.dub_path import create_dub_path  # imports the core and, for real, the models

    return create_dub_path(context)
