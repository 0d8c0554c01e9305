"""The late-audio report: the first late block logged at once, then one summary a minute."""

from __future__ import annotations

import logging

import pytest

from livedub.worker.output_core import WARNING_REPEAT_S, LateAudioReport

MS = 1_000_000


def late_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "after its play time" in r.getMessage()]


def test_first_late_block_is_logged_then_summarised_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    report = LateAudioReport()
    with caplog.at_level(logging.WARNING, logger="livedub.worker.output_core"):
        report.note(5 * MS, now_s=100.0)
        report.note(40 * MS, now_s=110.0)
        report.note(12 * MS, now_s=100.0 + WARNING_REPEAT_S - 1)
        assert [(r.lateChunks, r.worstLateMs) for r in late_lines(caplog)] == [(1, 5.0)]
        report.note(3 * MS, now_s=100.0 + WARNING_REPEAT_S)
    lines = late_lines(caplog)
    # the summary counts every block since the last line and the worst of them, then starts over
    assert [(r.lateChunks, r.worstLateMs) for r in lines] == [(1, 5.0), (3, 40.0)]
