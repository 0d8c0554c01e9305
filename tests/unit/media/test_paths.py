from __future__ import annotations

import pytest

from livedub.media.nginx import hook_payload, parse_stat_ingest
from livedub.media.paths import (
    RTMP_SCHEMES,
    SOURCE_SCHEMES,
    InvalidPath,
    has_scheme,
    parse_rtmp_url,
    source_scheme,
    stream_id_from_ingest_path,
)


@pytest.mark.parametrize("path", ["live/abc/in", "/live/abc/in", "live/A-b_9/in"])
def test_valid_ingest_paths(path: str) -> None:
    assert stream_id_from_ingest_path(path).lower() in ("abc", "a-b_9")


@pytest.mark.parametrize(
    "path", ["live/abc/out", "live/a/b/in", "live/../in", "other/abc/in", "live//in", "live/a b/in", "live/" + "x" * 65 + "/in"]
)
def test_invalid_ingest_paths(path: str) -> None:
    with pytest.raises(InvalidPath):
        stream_id_from_ingest_path(path)


@pytest.mark.parametrize(
    ("url", "app", "stream", "port"),
    [
        ("rtmp://h/live/abc/in", "live", "abc/in", 1935),
        ("rtmp://h:19350/live//abc/out", "live", "abc/out", 19350),
        ("rtmp://h/live/abc/in?lang=es", "live", "abc/in?lang=es", 1935),
    ],
)
def test_parse_rtmp_url_splits_application_and_key(url: str, app: str, stream: str, port: int) -> None:
    target = parse_rtmp_url(url)
    assert (target.application, target.stream, target.port) == (app, stream, port)


def test_parse_rtmp_url_rejects_non_rtmp() -> None:
    with pytest.raises(ValueError):
        parse_rtmp_url("http://h/live/abc/in")
    with pytest.raises(ValueError):
        parse_rtmp_url("rtmp://h/live")


def test_nginx_callback_becomes_mediamtx_payload() -> None:
    form = {"call": "publish", "app": "live", "name": "demo/in", "addr": "127.0.0.1", "clientid": "7",
            "tcurl": "rtmp://h/live", "type": "live", "lang": "es", "voice": "ef dora&x"}
    assert hook_payload(form) == {"path": "live/demo/in", "query": "lang=es&voice=ef+dora%26x",
                                  "sourceType": "rtmpConn", "sourceId": "7"}


STAT = """<?xml version="1.0"?><rtmp><server><application><name>live</name><live>
<stream><name>a/in</name><publishing/><active/></stream>
<stream><name>a/out</name><publishing/></stream>
<stream><name>b/in</name></stream>
<stream><name>../in</name><publishing/></stream>
<stream><name>a b/in</name><publishing/></stream>
<stream><name>ünï/in</name><publishing/></stream>
<stream><name>x/y/in</name><publishing/></stream>
</live></application><application><name>other</name><live><stream><name>c/in</name><publishing/></stream></live></application>
</server></rtmp>"""


def test_stat_lists_only_published_ingest_paths() -> None:
    assert parse_stat_ingest(STAT) == {"a"}


def test_stat_lists_every_published_path() -> None:
    from livedub.media.nginx import parse_stat_live

    assert parse_stat_live(STAT) == {"live/a/in", "live/a/out", "other/c/in", "live/../in", "live/a b/in",
                                     "live/ünï/in", "live/x/y/in"}


@pytest.mark.parametrize("path", ["live/abc\n/in", "live/abc/in\n", "live/abc/in\n\n"])
def test_a_trailing_newline_is_not_a_valid_stream_id(path: str) -> None:
    with pytest.raises(InvalidPath):
        stream_id_from_ingest_path(path)


@pytest.mark.parametrize(("url", "rtmp", "source"), [
    ("rtmp://h/live/abc/in", True, True), ("RTMPS://h/app/key", True, True), ("rtsp://h:8554/live/a/out", False, True),
    ("http://h/app/key", False, False), ("rtmp:/h/app", False, False), ("", False, False)])
def test_scheme_checks_are_one_case_insensitive_rule(url: str, rtmp: bool, source: bool) -> None:
    assert has_scheme(url, RTMP_SCHEMES) is rtmp and has_scheme(url, SOURCE_SCHEMES) is source
    if source:
        assert source_scheme(url) == url.split(":", 1)[0].lower()
    else:
        with pytest.raises(ValueError, match="must start with rtmp://"):
            source_scheme(url)
