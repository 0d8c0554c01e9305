"""The forwarder's pure parts: destination parsing, scrubbing of the key, and the retry loop driven by
scripted attempts (no GStreamer)."""

from __future__ import annotations

import io
import json
import logging
import random
import threading

import pytest

from livedub.config.settings import LogFormat, LogLevel, LogSettings
from livedub.egress.destination import Scrubber, ScrubFilter, parse_destination
from livedub.egress.forwarder import Forwarder, Outcome, RetryState, Side
from livedub.obs.logging import configure_logging
from livedub.proc.backoff import RestartPolicy

KEY = "abcd-efgh-ijkl-mnop"


@pytest.mark.parametrize(("url", "expected"), [
    (f"rtmp://a.rtmp.youtube.com/live2/{KEY}", ("rtmp", "a.rtmp.youtube.com", 1935, "live2", KEY, "", "")),
    (f"rtmps://live-api-s.facebook.com:443/rtmp/{KEY}?s_bl=1",
     ("rtmps", "live-api-s.facebook.com", 443, "rtmp", f"{KEY}?s_bl=1", "", "")),
    (f"rtmps://global-live.mux.com/app/{KEY}", ("rtmps", "global-live.mux.com", 443, "app", KEY, "", "")),
    (f"rtmp://u:p%40ss@cdn.example:1936/app/_definst_/{KEY}",
     ("rtmp", "cdn.example", 1936, "app/_definst_", KEY, "u", "p@ss")),
    ("rtmp://cdn.example/live/{streamId}-dub", ("rtmp", "cdn.example", 1935, "live", "cam1-dub", "", "")),
])
def test_destination_parsing(url: str, expected: tuple) -> None:
    d = parse_destination(url, "cam1")
    assert (d.scheme, d.host, d.port, d.application, d.stream, d.username, d.password) == expected
    assert KEY not in d.safe and "p@ss" not in d.safe and KEY not in repr(d) and KEY not in str(d)


@pytest.mark.parametrize(("url", "message"), [
    (f"http://example.com/live/{KEY}", "must start with rtmp://"),
    (f"rtmp:///live/{KEY}", "has no host"),
    (f"rtmp://example.com/{KEY}", "needs an application and a stream key"),
    (f"rtmp://example.com:99999/live/{KEY}", "not a valid URL"),
])
def test_bad_destinations_are_explained_without_the_key(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_destination(url)
    assert KEY not in str(info.value)


def test_scrubber_removes_keys_inside_and_outside_urls() -> None:
    scrub = Scrubber(parse_destination(f"rtmp://u:secretpw@cdn.example/app/{KEY}").secrets())
    text = f"publish of '{KEY}' refused by rtmp://cdn.example/app/{KEY} (user u, password secretpw)"
    assert scrub(text) == "publish of '***' refused by rtmp://cdn.example/app/*** (user u, password ***)"


def test_scrub_filter_cleans_every_log_field_and_traceback() -> None:
    out = io.StringIO()
    configure_logging(LogSettings(level=LogLevel.DEBUG, format=LogFormat.json), "egress-forwarder", stream=out)
    scrub_filter = ScrubFilter(Scrubber((KEY,)))
    scrub_filter.install()
    log = logging.getLogger("livedub.test.egress")
    try:
        log.info("stream %s rejected", KEY, extra={"error": f"bad name {KEY}", "count": 3})
        try:
            raise RuntimeError(f"gst said {KEY}")
        except RuntimeError:
            log.exception("attempt failed")
    finally:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(scrub_filter)
    text = out.getvalue()
    assert KEY not in text
    first, second = (json.loads(line) for line in text.splitlines())
    assert (first["msg"], first["error"], first["count"]) == ("stream *** rejected", "bad name ***", 3)
    assert "RuntimeError: gst said ***" in second["msg"]


def outcome(side: Side, forwarded_s: float = 0.0) -> Outcome:
    return Outcome(side, f"{side.value} failed", forwarded_s)


def test_retry_delays_grow_on_destination_failures_and_reset_after_healthy_forwarding() -> None:
    retry = RetryState(RestartPolicy(initial=1.0, maximum=8.0), random.Random(7), healthy_after=10.0)
    delays = [retry.next_delay(outcome(Side.destination)) for _ in range(6)]
    bases = [1, 2, 4, 8, 8, 8]  # equal jitter: each delay lies in [base/2, base]
    assert all(base / 2 <= d <= base for d, base in zip(delays, bases)), delays
    # a source failure (the worker restarting) retries soon and does not grow the backoff
    assert 0.5 <= retry.next_delay(outcome(Side.source)) <= 1.0
    assert retry.destination_failures == 6
    # a long healthy run resets: the next destination failure starts from the initial delay again
    assert 0.5 <= retry.next_delay(outcome(Side.destination, forwarded_s=30.0)) <= 1.0
    assert retry.destination_failures == 1


class Scripted:
    """Attempts that end as scripted; the last one waits for the stop flag."""

    def __init__(self, sides: list[Side], stop: threading.Event) -> None:
        self.sides = list(sides)
        self.stop = stop
        self.runs = 0

    def __call__(self) -> Scripted:
        return self

    def run(self, stop: threading.Event) -> Outcome:
        self.runs += 1
        if self.sides:
            return outcome(self.sides.pop(0))
        self.stop.set()  # the orchestrator's SIGTERM
        return outcome(Side.stopped)


def test_forwarder_retries_until_stopped(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    attempts = Scripted([Side.destination, Side.destination, Side.source], stop)
    retry = RetryState(RestartPolicy(initial=0.01, maximum=0.02), random.Random(1))
    with caplog.at_level("INFO"):
        Forwarder(attempts, retry, "rtmp://cdn.example/app/***").run(stop)
    assert attempts.runs == 4
    warnings = [r for r in caplog.records if r.getMessage() == "forwarding interrupted; retrying"]
    assert [r.side for r in warnings] == ["destination", "destination", "source"]
    assert [r.destinationFailures for r in warnings] == [1, 2, 2]
    assert caplog.records[-1].getMessage() == "forwarder stopped"


def test_a_stop_during_the_backoff_ends_it_at_once() -> None:
    stop = threading.Event()

    class FailsThenStops:
        runs = 0

        def run(self, _stop: threading.Event) -> Outcome:
            self.runs += 1
            threading.Timer(0.05, stop.set).start()  # SIGTERM arrives during the (long) backoff
            return outcome(Side.destination)

    attempt = FailsThenStops()
    retry = RetryState(RestartPolicy(initial=60.0, maximum=60.0), random.Random(1))
    worker = threading.Thread(target=Forwarder(lambda: attempt, retry, "x").run, args=(stop,))
    worker.start()
    worker.join(10)
    assert not worker.is_alive() and attempt.runs == 1
