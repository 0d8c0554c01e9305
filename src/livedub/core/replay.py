"""Feed an audio file through the streaming core exactly as the live worker does, and write the output.

The clock is a :class:`FakeClock` that follows the file: each block is pushed when the clock reaches
its end, and output is pulled as the clock passes each deadline. Two pacings:

* ``offline`` (``livedub dub``): before the clock passes a deadline, wait for the STS results due by
  then, so every fragment is dubbed however slow the STS is (fallbacks only on STS errors).
* ``simulated``: the clock never waits; STS latency counts against the deadlines, as live. With a
  :class:`SimulatedExecutor` and :class:`FakeSts` this is a deterministic benchmark of fallbacks.
"""

from __future__ import annotations

import wave
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from livedub.core.audio import remix_channels, resample_linear, to_float, to_int16
from livedub.core.bundle import wav_bytes
from livedub.core.clock import FakeClock
from livedub.core.config import CoreConfig
from livedub.core.executor import Executor, SimulatedExecutor, ThreadExecutor
from livedub.core.messages import CHANNELS, SAMPLE_RATE, OutputBlock, samples_to_ns
from livedub.core.metrics import CoreMetrics
from livedub.core.processor import Separator, StsProcessor
from livedub.core.scheduler import CoreStats, StreamingCore
from livedub.core.vad import Vad
from livedub.files import atomic_write

RAW_SUFFIXES = (".pcm", ".raw", ".s16")


class Pacing(str, Enum):
    offline = "offline"
    simulated = "simulated"


@dataclass(frozen=True)
class ReplayReport:
    input_samples: int
    output_samples: int
    blocks: int
    stats: CoreStats


def read_pcm(path: Path) -> np.ndarray:
    """A 16-bit WAV (any rate, any channels: converted) or raw S16LE 48 kHz stereo -> int16 (n, 2)."""
    if path.suffix.lower() in RAW_SUFFIXES:
        return np.fromfile(path, dtype="<i2").astype(np.int16).reshape(-1, CHANNELS)
    with wave.open(str(path), "rb") as source:
        if source.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported (convert with ffmpeg/sox)")
        channels, rate = source.getnchannels(), source.getframerate()
        data = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2").reshape(-1, channels)
    if channels == CHANNELS and rate == SAMPLE_RATE:
        return data.astype(np.int16)
    return to_int16(resample_linear(remix_channels(to_float(data.astype(np.int16)), CHANNELS), rate, SAMPLE_RATE))


def write_pcm(path: Path, samples: np.ndarray) -> None:
    """int16 (n, 2) as WAV, or raw S16LE for the raw suffixes; atomic."""
    if path.suffix.lower() in RAW_SUFFIXES:
        atomic_write(path, np.ascontiguousarray(samples, dtype="<i2").tobytes())
    else:
        atomic_write(path, wav_bytes(samples))


def replay(
    source: Path,
    destination: Path,
    *,
    config: CoreConfig,
    processor: StsProcessor,
    pacing: Pacing = Pacing.offline,
    executor: Executor | None = None,
    clock: FakeClock | None = None,
    stream_id: str = "replay",
    metrics: CoreMetrics | None = None,
    vad: Vad | None = None,
    separator: Separator | None = None,
    block_samples: int = 960,
    on_block: Callable[[OutputBlock], None] | None = None,
    sts_timeout_s: float | None = None,
) -> ReplayReport:
    """Replay ``source`` into ``destination``. Offline, ``sts_timeout_s`` bounds the wait for one STS
    call; past it the fragment's deadline passes and its fallback plays (``None``: wait for ever)."""
    audio = read_pcm(source)
    clock = clock or FakeClock(0)
    if executor is None:
        executor = ThreadExecutor(config.max_inflight) if pacing is Pacing.offline else SimulatedExecutor(clock)
    elif pacing is Pacing.offline and isinstance(executor, SimulatedExecutor):
        raise ValueError("offline pacing waits for STS results; a SimulatedExecutor only delivers them as the "
                         "clock moves: use simulated pacing")
    core = StreamingCore(config, processor, clock=clock, executor=executor, stream_id=stream_id,
                         metrics=metrics, vad=vad, separator=separator)
    out: list[np.ndarray] = []
    count = 0

    def collect(blocks: list[OutputBlock]) -> None:
        nonlocal count
        for block in blocks:
            out.append(block.samples)
            count += 1
            if on_block is not None:
                on_block(block)

    def advance_to(when: int) -> None:
        if pacing is Pacing.offline:
            core.wait_for_results(when, timeout_s=sts_timeout_s)
        clock.advance_to(when)
        collect(core.pull())

    start = clock.now()
    try:
        for first in range(0, len(audio), block_samples):
            block = audio[first : first + block_samples]
            pts = samples_to_ns(first)
            advance_to(start + samples_to_ns(first + len(block)))  # a block arrives when its end is recorded
            core.push(block, pts)
            collect(core.pull())
        core.flush()
        while not core.finished:
            due = core.next_due_ns()
            assert due is not None, "an unfinished core always has a head deadline"
            advance_to(max(due, clock.now()))
        stats = core.stats()
    finally:
        core.close()
    result = np.concatenate(out) if out else np.zeros((0, CHANNELS), dtype=np.int16)
    write_pcm(destination, result)
    return ReplayReport(input_samples=len(audio), output_samples=len(result), blocks=count, stats=stats)
