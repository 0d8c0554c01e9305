"""The pure streaming core: fragmenting, in-flight window, ordering, deadlines, fallbacks, breaker.

No GStreamer, HTTP or subprocess in here: the worker pushes PCM blocks with timestamps into a
:class:`StreamingCore` and pulls output blocks at their due times; a file replay and the tests
drive the very same object with a :class:`FakeClock`. See ``docs/streaming-core.md``.
"""

from livedub.core.audio import pcm_from_bytes
from livedub.core.breaker import BreakerState, CircuitBreaker
from livedub.core.bundle import RunBundle
from livedub.core.clock import Clock, FakeClock, MonotonicClock
from livedub.core.config import BreakerConfig, CoreConfig, FragmenterConfig
from livedub.core.executor import Executor, ManualExecutor, SimulatedExecutor, ThreadExecutor
from livedub.core.factory import create_core
from livedub.core.messages import (
    AudioFragment,
    DubbedAudio,
    FallbackReason,
    FragmentResult,
    FragmentStatus,
    OutputBlock,
    SpeechSegment,
)
from livedub.core.metrics import CoreMetrics
from livedub.core.processor import Separator, StsError, StsProcessor
from livedub.core.quality import LadderConfig, QualityLadder
from livedub.core.replay import Pacing, ReplayReport, replay
from livedub.core.scheduler import CoreClosed, CoreStats, StreamingCore
from livedub.core.segmenter import Segmenter, SegmenterConfig
from livedub.core.vad import EnergyVad, Vad

__all__ = [
    "AudioFragment",
    "BreakerConfig",
    "BreakerState",
    "CircuitBreaker",
    "Clock",
    "CoreClosed",
    "CoreConfig",
    "CoreMetrics",
    "CoreStats",
    "DubbedAudio",
    "EnergyVad",
    "Executor",
    "FakeClock",
    "FallbackReason",
    "FragmentResult",
    "FragmentStatus",
    "FragmenterConfig",
    "LadderConfig",
    "ManualExecutor",
    "MonotonicClock",
    "OutputBlock",
    "Pacing",
    "QualityLadder",
    "ReplayReport",
    "RunBundle",
    "Segmenter",
    "SegmenterConfig",
    "Separator",
    "SimulatedExecutor",
    "SpeechSegment",
    "StreamingCore",
    "StsError",
    "StsProcessor",
    "ThreadExecutor",
    "Vad",
    "create_core",
    "pcm_from_bytes",
    "replay",
]
