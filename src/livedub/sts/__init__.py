"""Speech-to-speech: ASR -> translation -> TTS -> time-stretch -> remix over the separated background.

Start at :class:`livedub.sts.pipeline.StsPipeline` (what the streaming core calls); the stages'
protocols are in :mod:`livedub.sts.protocols`, their providers in :mod:`livedub.sts.registry`.
"""

from livedub.sts.pipeline import StsConfig, StsPipeline

__all__ = ["StsConfig", "StsPipeline"]
