"""The ``mock`` and ``real`` audio paths: the worker's :class:`AudioPath` seam over the streaming core.

    worker audio thread --push(PcmChunk)--> core.push(samples, pts)      (never blocks on STS)
    worker audio pump   <--pull()---------- core.pull(): fragments due now, dubbed or fallen back

The STS engine (``processors.create_engine``) loads once per worker: in real mode in a background
thread (``processors.LoadingEngine``) while the worker already reads and buffers its input, so a
viewer's output starts with the stream, not after the load; a model that cannot load is a clear
permanent error (:meth:`DubAudioPath.failure`, the worker exits 2) instead of a stream that falls
back forever. Settings the mode refuses (an unknown voice, a delay too short) fail at once. The core registers its metrics on the
worker's registry and writes the run bundle under ``LIVEDUB_DATA_DIR/streams/<id>/runs/<runId>/``.

Time: the core runs on :class:`MonotonicClock` (``CLOCK_MONOTONIC``), the clock GStreamer's system
clock uses too. Fragments come out of :meth:`pull` ``WORKER_OUTPUT_LEAD`` before they play, so the
worker pulls at :meth:`next_pull_in_s` as well as after every push (its audio pump).
"""

from __future__ import annotations

import logging

from livedub.config.settings import PathSettings, StsMode, WorkerSettings
from livedub.core import Clock, CoreConfig, MonotonicClock, StreamingCore, create_core
from livedub.core.processor import Unavailable
from livedub.processors import DubEngine, LoadingEngine, create_engine
from livedub.sts.frame_vad import segment_vad
from livedub.worker.audio_path import AudioPathContext, PcmChunk

log = logging.getLogger(__name__)


class DubAudioPath:
    """An :class:`~livedub.worker.audio_path.AudioPath` backed by a :class:`StreamingCore`."""

    def __init__(self, core: StreamingCore, clock: Clock, engine: LoadingEngine | None = None) -> None:
        self.core = core
        self._clock = clock
        self._engine = engine
        self._closed = False

    def failure(self) -> str | None:
        """Why the STS cannot run at all (its models failed to load): the worker exits 2 with it."""
        return self._engine.failure if self._engine is not None else None

    def anchor(self, offset_ns: int) -> None:
        self.core.anchor(offset_ns)

    def push(self, chunk: PcmChunk) -> None:
        self.core.push(chunk.samples, chunk.pts_ns)

    def pull(self) -> list[PcmChunk]:
        return [PcmChunk(block.input_pts, block.samples) for block in self.core.pull()]

    def pause(self) -> None:
        self.core.interrupt()

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


def start_engine(worker: WorkerSettings, paths: PathSettings) -> DubEngine | LoadingEngine:
    """The STS engine of a mock or real dub path. Real models start loading in the background
    (:class:`LoadingEngine`); mock's tone is ready at once. Settings the mode refuses (a delay too
    short for the fragments, an unknown voice) raise :class:`Unavailable` before any load."""
    try:
        CoreConfig.from_settings(worker)
    except ValueError as exc:
        raise Unavailable(f"invalid worker settings for {worker.sts_mode.value} mode: {exc}") from None
    if worker.sts_mode is StsMode.real:
        return _loading_engine(worker, paths)
    engine = create_engine(worker, paths)
    _log_ready(engine, 0.0, worker)
    return engine


def create_dub_path(context: AudioPathContext) -> DubAudioPath:
    """The core for ``WORKER_STS_MODE`` (mock or real) over ``context.engine`` (a standby worker's,
    started before its stream was known) or a new :func:`start_engine`."""
    worker, paths = context.worker, context.paths
    engine = context.engine if context.engine is not None else start_engine(worker, paths)
    if isinstance(engine, LoadingEngine):
        processor, separator = engine, engine
    else:
        processor, separator = engine.processor, engine.separator
    clock = MonotonicClock()
    try:
        core = create_core(worker, paths, processor=processor, registry=context.registry, clock=clock,
                           separator=separator, run_id=context.run_id, vad=segment_vad(worker))
    except ValueError as exc:  # e.g. WORKER_QUALITY names a rung this language's voices do not offer
        raise Unavailable(f"invalid worker settings for {worker.sts_mode.value} mode: {exc}") from None
    return DubAudioPath(core, clock, engine if isinstance(engine, LoadingEngine) else None)


def _loading_engine(worker: WorkerSettings, paths: PathSettings) -> LoadingEngine:
    from livedub.sts import StsConfig, StsPipeline

    # an unknown voice or language (Unavailable) is a settings error now, not after a load
    rungs = StsPipeline.planned_rungs(StsConfig.from_settings(worker, paths))
    quick = quick_settings(worker) if "fastest" in rungs else None
    return LoadingEngine(lambda: create_engine(worker, paths, warm_up=True), quality_rungs=rungs,
                         on_ready=lambda engine, seconds: _log_ready(engine, seconds, worker),
                         quick_load=(lambda: create_engine(quick, paths, warm_up=True)) if quick else None)


def quick_settings(worker: WorkerSettings) -> WorkerSettings | None:
    """The fastest rung alone (the language's fast voice over ducking), for a cold worker's first
    segments; None when that rung needs the slow models anyway (no fast voice for the language)."""
    from livedub.sts import registry
    from livedub.sts.registry import Stage
    from livedub.sts.voices import fast_voice

    voice = fast_voice(worker.target_lang)
    if voice is None or not registry.spec(Stage.tts, voice.provider).availability().ok:
        return None
    return worker.model_copy(update={"separator": "duck", "tts": "", "tts_voice": voice.name})


def _log_ready(engine: DubEngine, seconds: float, worker: WorkerSettings) -> None:
    log.info("sts engine ready", extra={"stsMode": worker.sts_mode.value, "loadSeconds": round(seconds, 2),
                                        "processor": type(engine.processor).__name__,
                                        "separator": type(engine.separator).__name__ if engine.separator else None,
                                        "sourceLang": worker.source_lang, "targetLang": worker.target_lang})
