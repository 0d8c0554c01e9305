"""`livedub forward` after its settings are valid: GStreamer up, signals wired, the retry loop run."""

from __future__ import annotations

import logging
import random
import signal
import threading
from enum import IntEnum

from livedub.config.settings import EgressSettings
from livedub.egress.destination import Destination, Scrubber
from livedub.egress.forwarder import Forwarder, RetryState
from livedub.proc.backoff import RestartPolicy

log = logging.getLogger(__name__)


class ExitCode(IntEnum):
    OK = 0                  # stopped by SIGTERM/SIGINT (the forwarder never gives up on its own)
    CONFIG = 2              # invalid or missing settings
    MISSING_DEPENDENCY = 5  # PyGObject / GStreamer / an element is not installed (as the worker)


def run_forwarder(settings: EgressSettings, destination: Destination, scrub: Scrubber,
                  stop: threading.Event | None = None) -> ExitCode:
    from livedub.gst import GstUnavailable, require_gst

    try:
        from livedub.egress.pipeline import ELEMENTS, ForwardPipeline

        require_gst(ELEMENTS)
    except GstUnavailable as exc:
        log.error("cannot forward: %s", exc)
        return ExitCode.MISSING_DEPENDENCY
    _quiet_gstreamer()
    stop = stop or threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    retry = RetryState(RestartPolicy(initial=settings.retry_initial, maximum=settings.retry_max), random.Random())
    log.info("forwarder started", extra={"source": scrub(settings.source_url), "destination": destination.safe})
    Forwarder(lambda: ForwardPipeline(settings.source_url, destination, scrub), retry, destination.safe).run(stop)
    return ExitCode.OK


def _quiet_gstreamer() -> None:
    """GStreamer's own debug log (GST_DEBUG) prints element properties, the stream key among them."""
    from livedub.gst import Gst

    Gst.debug_set_active(False)
    Gst.debug_set_default_threshold(Gst.DebugLevel.NONE)
    Gst.debug_remove_log_function(None)
