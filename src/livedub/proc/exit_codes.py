"""How a worker ends. The orchestrator restarts on retryable codes and leaves the others alone."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0                  # the publisher ended the stream (EOS drained to the output), or SIGTERM/SIGINT
    PIPELINE_ERROR = 1      # a GStreamer bus ERROR (input lost, output refused, ...): restart
    CONFIG = 2              # invalid or missing settings (same code every livedub command uses)
    INPUT_UNAVAILABLE = 3   # no input within WORKER_INPUT_TIMEOUT, or it ended before its tracks were known
    UNSUPPORTED_INPUT = 4   # the input is not H.264 video + AAC audio (or lacks one of the two)
    MISSING_DEPENDENCY = 5  # PyGObject / GStreamer / an element is not installed


RETRYABLE: frozenset[ExitCode] = frozenset({ExitCode.PIPELINE_ERROR, ExitCode.INPUT_UNAVAILABLE})


def is_retryable(code: int) -> bool:
    """True when restarting the same worker may succeed (a crash, an input that was not there yet)."""
    return code in RETRYABLE


# restarting cannot help: the settings, the publisher's codecs or the installation must change first
PERMANENT: frozenset[ExitCode] = frozenset({ExitCode.CONFIG, ExitCode.UNSUPPORTED_INPUT, ExitCode.MISSING_DEPENDENCY})


def is_permanent(code: int) -> bool:
    return code in PERMANENT


def describe(code: int) -> str:
    try:
        return ExitCode(code).name.lower().replace("_", "-")
    except ValueError:
        return f"unknown ({code})"
