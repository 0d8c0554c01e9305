"""Logs are JSON lines with the common fields; secrets never reach them; metrics are served."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from livedub.config.settings import LogFormat, LogLevel, LogSettings
from livedub.obs.logging import configure_logging, instance_id, log_context
from livedub.obs.metrics import serve_metrics
from livedub.obs.redact import redact_text, redact_url


@pytest.fixture()
def captured() -> io.StringIO:
    stream = io.StringIO()
    configure_logging(LogSettings(level=LogLevel.DEBUG, format=LogFormat.json), "test-component", stream=stream)
    yield stream
    logging.getLogger().handlers.clear()


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_component_instance_and_context(captured: io.StringIO) -> None:
    log = logging.getLogger("livedub.test")
    with log_context(streamId="abc", runId="r1"):
        log.info("worker started", extra={"pid": 42})
    log.warning("outside")
    first, second = _lines(captured)
    assert first["msg"] == "worker started"
    assert (first["component"], first["streamId"], first["runId"], first["pid"]) == ("test-component", "abc", "r1", 42)
    assert first["instanceId"] == instance_id()
    assert first["level"] == "info"
    assert "streamId" not in second


def test_stream_keys_never_reach_logs(captured: io.StringIO) -> None:
    log = logging.getLogger("livedub.test")
    url = "rtmp://a.rtmp.youtube.com/live2/abcd-SECRETKEY-1234"
    log.info("forwarding to %s", url, extra={"target": url})
    try:
        raise RuntimeError(f"connect failed: {url}")
    except RuntimeError:
        log.exception("egress failed")
    text = captured.getvalue()
    assert "SECRETKEY" not in text
    assert "rtmp://a.rtmp.youtube.com/live2/***" in text


def test_console_format_is_readable() -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(format=LogFormat.console), "orchestrator", stream=stream)
    logging.getLogger("x").info("ready", extra={"streamId": "s1"})
    logging.getLogger().handlers.clear()
    line = stream.getvalue().strip()
    assert "orchestrator: ready" in line and "streamId=s1" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtmp://a.rtmp.youtube.com/live2/KEY", "rtmp://a.rtmp.youtube.com/live2/***"),
        ("rtmp://a.rtmp.youtube.com/live2/KEY/", "rtmp://a.rtmp.youtube.com/live2/***/"),
        ("rtmp://a.rtmp.youtube.com//live2//KEY//", "rtmp://a.rtmp.youtube.com//live2//***//"),
        ("rtmps://user:pw@host:443/app/KEY?auth=x", "rtmps://***@host:443/app/***?***"),
        ("rtmp://127.0.0.1:1935/live/demo/in", "rtmp://127.0.0.1:1935/live/demo/in"),
        ("rtsp://mediamtx:8554/live/demo/out", "rtsp://mediamtx:8554/live/demo/out"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_finds_urls_inside_messages() -> None:
    assert redact_text("push to rtmp://x/app/KEY failed") == "push to rtmp://x/app/*** failed"


def test_metrics_are_served_over_http() -> None:
    registry = CollectorRegistry()
    Counter("livedub_test_events", "test", registry=registry).inc(3)
    endpoint = serve_metrics(0, registry=registry)
    try:
        body = httpx.get(endpoint.url, timeout=5).text
    finally:
        endpoint.close()
    assert "livedub_test_events_total 3.0" in body


def test_http_paths_are_not_mistaken_for_stream_keys() -> None:
    assert redact_url("http://127.0.0.1:8080/v1/mediamtx/events/ready") == "http://127.0.0.1:8080/v1/mediamtx/events/ready"
    assert redact_url("https://u:p@h/x?token=abc") == "https://***@h/x?***"


def test_a_child_s_log_line_is_read_back_only_when_it_has_the_key() -> None:
    from livedub.obs.logging import parse_record

    assert parse_record('{"msg": "worker ending", "reason": "done", "exitCode": 0}', "reason") == {
        "msg": "worker ending", "reason": "done", "exitCode": 0}
    assert parse_record('{"msg": "the word \\"reason\\" in a message"}', "reason") is None  # quoted, not a key
    assert parse_record('not json "reason"', "reason") is None
    assert parse_record('["reason"]', "reason") is None
    assert parse_record('{"msg": "other"}', "reason") is None
