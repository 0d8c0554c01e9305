"""The ``mock`` and ``real`` audio paths: the worker's :class:`AudioPath` seam over the streaming core.

    worker audio thread --push(PcmChunk)--> core.push(samples, pts)      (never blocks on STS)
    worker audio pump   <--pull()---------- core.pull(): fragments due now, dubbed or fallen back

The STS engine (``processors.create_engine``) is built when the path is: models load once, at
worker start, before the worker connects anything, so a missing model is a clear permanent error
(exit 2) instead of a stream that falls back forever. The core registers its metrics on the
worker's registry and writes the run bundle under ``LIVEDUB_DATA_DIR/streams/<id>/runs/<runId>/``.

Time: the core runs on :class:`MonotonicClock` (``CLOCK_MONOTONIC``), the clock GStreamer's system
clock uses too. Fragments come out of :meth:`pull` ``WORKER_OUTPUT_LEAD`` before they play, so the
worker pulls at :meth:`next_pull_in_s` as well as after every push (its audio pump).
"""

from __future__ import annotations

import logging
import time

from livedub.config.settings import StsMode
from livedub.core import Clock, CoreConfig, MonotonicClock, StreamingCore, create_core
from livedub.processors import ProcessorUnavailable, create_engine
from livedub.worker.audio_path import AudioPathContext, AudioPathUnavailable, PcmChunk

log = logging.getLogger(__name__)


class DubAudioPath:
    """An :class:`~livedub.worker.audio_path.AudioPath` backed by a :class:`StreamingCore`."""

    def __init__(self, core: StreamingCore, clock: Clock) -> None:
        self.core = core
        self._clock = clock
        self._closed = False

    def push(self, chunk: PcmChunk) -> None:
        self.core.push(chunk.samples, chunk.pts_ns)

    def pull(self) -> list[PcmChunk]:
        return [PcmChunk(block.input_pts, block.samples) for block in self.core.pull()]

    def finish(self) -> None:
        # flush, not drain: drain hands everything out at once, so fragments due before the last
        # STS call returns would reach the output after their play time. Pulling on at each due
        # time keeps every fragment on schedule; the core falls back on the ones STS cannot make.
        self.core.flush()

    @property
    def drained(self) -> bool:
        return self.core.finished

    def next_pull_in_s(self) -> float | None:
        due = self.core.next_due_ns()
        return None if due is None else max(0.0, (due - self._clock.now()) / 1e9)

    def close(self) -> None:
        """Write the run bundle's summary. Running STS calls are left to finish on their own."""
        if not self._closed:
            self._closed = True
            self.core.close()


def create_dub_path(context: AudioPathContext) -> DubAudioPath:
    """Load the engine for ``WORKER_STS_MODE`` (mock or real) and build the core around it."""
    worker, paths = context.worker, context.paths
    try:  # before loading any model: a delay too short for the fragments is a settings error
        CoreConfig.from_settings(worker)
    except ValueError as exc:
        raise AudioPathUnavailable(f"invalid worker settings for {worker.sts_mode.value} mode: {exc}") from None
    started = time.monotonic()
    try:
        engine = create_engine(worker, paths, warm_up=worker.sts_mode is StsMode.real)
    except ProcessorUnavailable as exc:
        raise AudioPathUnavailable(str(exc)) from None
    log.info("sts engine ready", extra={"stsMode": worker.sts_mode.value, "loadSeconds": round(time.monotonic() - started, 2),
                                        "processor": type(engine.processor).__name__,
                                        "separator": type(engine.separator).__name__ if engine.separator else None,
                                        "sourceLang": worker.source_lang, "targetLang": worker.target_lang})
    clock = MonotonicClock()
    try:
        core = create_core(worker, paths, processor=engine.processor, registry=context.registry, clock=clock,
                           separator=engine.separator, run_id=context.run_id)
    except ValueError as exc:  # e.g. WORKER_QUALITY names a rung this language's voices do not offer
        raise AudioPathUnavailable(f"invalid worker settings for {worker.sts_mode.value} mode: {exc}") from None
    return DubAudioPath(core, clock)
