"""Choose the STS processor a worker (or `livedub dub`) runs, from WORKER_STS_MODE.

* ``bypass``: the audio passes through unchanged (``PassThroughSts``; the live worker skips the
  core entirely in this mode).
* ``mock``: a deterministic tone per fragment (``ToneSts``): shows the dub path end to end.
* ``real``: the in-process speech-to-speech pipeline (separation -> ASR -> MT -> TTS -> fit ->
  remix) from ``livedub.sts``; it also serves the core's ``background-only`` fallback.

Fault injection (``WORKER_STS_FAULT_LATENCY``, ``WORKER_STS_FAULT_FAILURE_RATE``) wraps whichever
processor was built in the core's :class:`~livedub.core.mock_sts.FakeSts` on the real clock: for
tests and operators' fire drills of the fallbacks and the breaker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from livedub.config.settings import PathSettings, StsMode, WorkerSettings
from livedub.core.clock import MonotonicClock
from livedub.core.messages import AudioFragment, DubbedAudio, SpeechSegment
from livedub.core.mock_sts import FakeSts, PassThroughSts, ToneSts
from livedub.core.processor import Separator, StsError, StsProcessor, Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DubEngine:
    processor: StsProcessor
    separator: Separator | None = None


def create_engine(worker: WorkerSettings, paths: PathSettings, warm_up: bool = False) -> DubEngine:
    """Build what the core calls for ``worker.sts_mode``, with the configured fault injection.

    Real models load here, once per process (``warm_up`` runs every stage once). Raises
    :class:`~livedub.core.processor.Unavailable` when a model, package or tool is missing.
    """
    return with_faults(_create_engine(worker, paths, warm_up), worker)


def with_faults(engine: DubEngine, worker: WorkerSettings, seed: int = 0) -> DubEngine:
    """``engine`` with ``WORKER_STS_FAULT_*`` applied to its processor (unchanged when both are 0)."""
    latency_ns = round(worker.sts_fault_latency * 1e9)
    if latency_ns == 0 and worker.sts_fault_failure_rate == 0:
        return engine
    log.warning("STS fault injection is on: every STS call waits %.3f s longer and %.0f%% of them fail",
                worker.sts_fault_latency, worker.sts_fault_failure_rate * 100,
                extra={"faultLatencyS": worker.sts_fault_latency, "faultFailureRate": worker.sts_fault_failure_rate})
    faulty = FakeSts(MonotonicClock(), inner=engine.processor, latency_ns=latency_ns,
                     failure_rate=worker.sts_fault_failure_rate, seed=seed)
    return replace(engine, processor=faulty)


def _create_engine(worker: WorkerSettings, paths: PathSettings, warm_up: bool) -> DubEngine:
    return STS_MODES[worker.sts_mode].build(worker, paths, warm_up)


def _real_engine(worker: WorkerSettings, paths: PathSettings, warm_up: bool) -> DubEngine:
    try:
        from livedub.sts import StsConfig, StsPipeline

        pipeline = StsPipeline.build(StsConfig.from_settings(worker, paths))
        if warm_up:
            pipeline.warm_up()
    except ImportError as exc:
        raise Unavailable(
            f"real STS is not available ({exc}); install the models with ./scripts/install.sh --models"
        ) from None
    except Unavailable:
        raise  # classified where it was found (a missing package, model or voice): carried as it is
    except StsError as exc:  # a stage that failed while loading: loading again will not help
        raise Unavailable(str(exc)) from exc
    except OSError as exc:  # an unreadable or unwritable model directory: the operator must fix it
        raise Unavailable(f"cannot load the STS models: {exc}; check LIVEDUB_MODEL_DIR ({paths.model_dir})"
                          ) from None
    return DubEngine(pipeline, separator=pipeline)


@dataclass(frozen=True)
class StsModeSpec:
    """What one WORKER_STS_MODE means: how its engine is built (``livedub dub``, replay, a live worker),
    and whether a live worker runs the streaming core for it at all (bypass: remux only)."""

    build: Callable[[WorkerSettings, PathSettings, bool], DubEngine]
    live_core: bool


# the one table of STS modes; the worker's audio path asks it too (worker/audio_path.py)
STS_MODES: dict[StsMode, StsModeSpec] = {
    StsMode.bypass: StsModeSpec(lambda _worker, _paths, _warm: DubEngine(PassThroughSts()), live_core=False),
    StsMode.mock: StsModeSpec(lambda _worker, _paths, _warm: DubEngine(ToneSts()), live_core=True),
    StsMode.real: StsModeSpec(_real_engine, live_core=True),
}


class LoadingEngine:
    """The STS processor of a live worker whose models are still loading (in a background thread).

    The worker reads its input from the moment it starts and the streaming core cuts fragments and
    segments meanwhile; a segment submitted before the models are ready waits for them in its STS
    call (the core's deadline decides whether it is still dubbed), so the constant delay covers the
    load. A load that fails is permanent: calls fail with it and :attr:`failure` says why (the worker
    then exits 2). ``quality_rungs`` are known before loading (``StsPipeline.planned_rungs``).

    ``quick_load`` (optional) builds the fastest rung alone first (its light voice over ducking: about
    a second and a half where every rung takes over ten on a slow day); segments submitted before the
    full load has ended are voiced by it and reported as ``quick_tier``. A quick load that fails only
    means waiting for the full one.
    """

    def __init__(self, load: Callable[[], DubEngine], *, quality_rungs: tuple[str, ...] = (),
                 wait_s: float = 120.0, on_ready: Callable[[DubEngine, float], None] | None = None,
                 quick_load: Callable[[], DubEngine] | None = None, quick_tier: str = "fastest") -> None:
        self.quality_rungs = quality_rungs
        self._wait_s = wait_s
        self._ready = threading.Event()
        self._usable = threading.Event()  # the quick engine or the full one is there (or the load ended)
        self._engine: DubEngine | None = None
        self._quick: DubEngine | None = None
        self._quick_tier = quick_tier
        self._failure: str | None = None
        self._on_ready = on_ready
        self._thread = threading.Thread(target=self._load, args=(load, quick_load), name="sts-load", daemon=True)
        self._thread.start()

    def _load(self, load: Callable[[], DubEngine], quick_load: Callable[[], DubEngine] | None) -> None:
        started = time.monotonic()
        if quick_load is not None:
            try:
                self._quick = quick_load()
                log.info("the fastest rung is ready; the other rungs are still loading",
                         extra={"loadSeconds": round(time.monotonic() - started, 2), "tier": self._quick_tier})
            except Exception as exc:  # noqa: BLE001 - only an early start is lost: the full load decides
                log.warning("the fastest rung could not be loaded on its own; waiting for every rung",
                            extra={"reason": f"{type(exc).__name__}: {exc}"})
            self._usable.set()
        try:
            engine = load()
            rungs = tuple(getattr(engine.processor, "quality_rungs", ()) or ())
            if self.quality_rungs and rungs != self.quality_rungs:
                raise Unavailable(f"the loaded STS offers quality rungs {rungs}, not the planned {self.quality_rungs}")
            self._engine = engine
        except Unavailable as exc:
            self._failure = str(exc)
            log.error("the STS models could not be loaded", extra={"reason": self._failure})
        except Exception as exc:  # a bug in a provider's loading code: the worker must still end (exit 2)
            self._failure = f"{type(exc).__name__}: {exc} (a bug: please report it)"
            log.exception("the STS models could not be loaded", extra={"reason": self._failure})
        finally:
            self._ready.set()
            self._usable.set()
            self._quick = None  # the full engine serves from now on (its cache holds what they share)
        if self._engine is not None and self._on_ready is not None:
            self._on_ready(self._engine, time.monotonic() - started)

    @property
    def failure(self) -> str | None:
        """Why the models could not be loaded (None while loading or once loaded)."""
        return self._failure

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._engine is not None

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the load ended; True when the engine is there."""
        self._ready.wait(timeout_s)
        return self.ready

    def process(self, segment: SpeechSegment) -> DubbedAudio:
        if not self._usable.wait(self._wait_s):
            raise StsError(f"the STS models are still loading after {self._wait_s:g} s")
        engine, quick = self._engine, self._quick
        if engine is not None:
            return engine.processor.process(segment)
        if quick is not None and not self._ready.is_set():
            return replace(quick.processor.process(segment), tier=self._quick_tier)
        if not self._ready.wait(self._wait_s):
            raise StsError(f"the STS models are still loading after {self._wait_s:g} s")
        if self._engine is None:
            raise StsError(f"the STS models could not be loaded: {self._failure}", retryable=False)
        return self._engine.processor.process(segment)

    def background(self, fragment: AudioFragment) -> np.ndarray:
        """The loaded separator's (the quick engine's ducking before that); with neither yet, the
        core's fallback renderer ducks instead."""
        engine = self._engine or self._quick
        if engine is None or engine.separator is None:
            raise RuntimeError("no speech/background separator yet (the STS models are loading)")
        return engine.separator.background(fragment)
