"""Shared end-to-end fixtures: the embedded media server on free ports and ffmpeg test clients.

    def test_x(nginx_media, start_publisher):
        nginx_media.start(HookTarget(orchestrator_url))       # or None: no hooks
        publisher = start_publisher(nginx_media.ingest("cam").ffmpeg_url, query="lang=es")
        streams = ffprobe_streams(nginx_media.ingest("cam").ffmpeg_url)
        publisher.stop()                                      # -> not-ready

Every ffmpeg/ffprobe runs with a deadline: a reader of a stream nobody publishes can hang forever.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from livedub.media.nginx import NginxMediaServer
from livedub.obs.metrics import free_port
from livedub.proc.child import spawn, terminate
from tests.require import requires

FFPROBE_TIMEOUT_S = 20
RW_TIMEOUT_US = "5000000"  # ffmpeg/ffprobe give up on a silent socket after 5 s


def media_tools_available() -> bool:
    return bool(shutil.which("ffmpeg") and shutil.which("ffprobe"))


requires_media = [
    requires(media_tools_available(), "ffmpeg/ffprobe not installed"),
    requires(NginxMediaServer.available(), "nginx + libnginx-mod-rtmp not installed"),
]


@pytest.fixture
def nginx_media() -> Iterator[NginxMediaServer]:
    """An nginx-rtmp media server on free ports, not started yet (``start(hooks)`` it), stopped after."""
    server = NginxMediaServer(host="127.0.0.1", rtmp_port=free_port(), api_port=free_port())
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Publisher:
    """An ffmpeg process publishing a synthetic H.264/AAC stream in real time."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int | None:
        """Like a publisher hanging up: ffmpeg closes the RTMP session and exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return terminate(self.process, timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]


def publisher_command(url: str, duration_s: float = 120.0, size: str = "320x240", fps: int = 25) -> list[str]:
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "warning", "-nostdin", "-re",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(duration_s),  # a hard limit: a forgotten publisher ends on its own
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-g", str(fps), "-c:a", "aac", "-b:a", "64k", "-ar", "48000", "-ac", "2",
        "-rw_timeout", RW_TIMEOUT_US, "-f", "flv", url,
    ]


@pytest.fixture
def start_publisher(tmp_path: Path) -> Iterator[Callable[..., Publisher]]:
    """``start_publisher(ffmpeg_url, query="", duration_s=120)`` -> :class:`Publisher`; all stopped after."""
    publishers: list[Publisher] = []

    def _start(url: str, query: str = "", duration_s: float = 120.0) -> Publisher:
        target = f"{url}?{query}" if query else url
        log_path = tmp_path / f"publisher-{len(publishers)}.log"
        with log_path.open("wb") as log_file:
            process = spawn(publisher_command(target, duration_s), stdout=log_file, stderr=log_file,
                            stdin=subprocess.DEVNULL)
        publisher = Publisher(target, process, log_path)
        publishers.append(publisher)
        return publisher

    yield _start
    for publisher in publishers:
        publisher.stop()


def publish_once(url: str) -> subprocess.CompletedProcess[str]:
    """One second of H.264 test pattern published to ``url``; its exit status says whether the
    server accepted the publisher."""
    return subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-f", "lavfi", "-i",
         "testsrc2=size=160x120:rate=10", "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-f", "flv", url],
        check=False, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def ffprobe_streams(url: str, timeout_s: float = FFPROBE_TIMEOUT_S) -> list[dict]:
    """The streams ffprobe finds at ``url`` (codec_type, codec_name, ...); raises on failure or timeout."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-rw_timeout", RW_TIMEOUT_US, "-analyzeduration", "2000000",
         "-show_entries", "stream=codec_type,codec_name,width,height,sample_rate,channels", "-of", "json", url],
        check=False, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"ffprobe {url} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout).get("streams", [])


@pytest.fixture(scope="module")
def media_server() -> Iterator[NginxMediaServer]:
    """One nginx for a module (each test uses its own stream id); ``nginx_media`` is per test."""
    server = NginxMediaServer(rtmp_port=free_port(), api_port=free_port())
    server.start(None)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def marker_flv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The marker stream (tests/e2e/media_analysis.py), 8 s of H.264 + AAC in FLV."""
    from tests.e2e.media_analysis import make_marker_flv

    return make_marker_flv(tmp_path_factory.mktemp("media") / "marker.flv")
