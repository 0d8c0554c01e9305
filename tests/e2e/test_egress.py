"""`livedub forward` with real processes: ffmpeg publishes live/<id>/out on one nginx-rtmp (a
stand-in for the worker), the forwarder pushes it codec-copy to a second nginx-rtmp (the third
party) under a secret stream key. ffprobe reads H.264 + AAC back from the destination; the key is
in no log line and no process's command line; a destination that is down at first is retried
with growing delays until it appears; the publisher is never affected."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from livedub.media.nginx import NginxMediaServer
from livedub.obs.metrics import free_port
from livedub.proc.child import port_accepts, spawn, terminate, wait_until
from tests.require import requires

from .conftest import ffprobe_streams, requires_media

pytestmark = [pytest.mark.e2e, *requires_media]

STREAM = "egress-cam"


@pytest.fixture
def third_party() -> Iterator[NginxMediaServer]:
    """A second nginx-rtmp standing in for YouTube/Twitch: created, not started."""
    server = NginxMediaServer(host="127.0.0.1", rtmp_port=free_port(), api_port=free_port())
    yield server
    server.stop()


def start_forwarder(tmp_path: Path, source_url: str, destination_url: str) -> tuple[subprocess.Popen[bytes], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EGRESS_", "LOG_", "GST_DEBUG"))}
    env.update({"EGRESS_URL": destination_url, "EGRESS_RETRY_INITIAL": "200ms", "EGRESS_RETRY_MAX": "1s",
                "LOG_LEVEL": "DEBUG", "LOG_FORMAT": "json"})
    log_path = tmp_path / "forwarder.log"
    with log_path.open("wb") as log_file:
        # the source and stream id as flags, the secret only in the environment
        process = spawn([sys.executable, "-m", "livedub.cli.main", "forward", "--stream-id", STREAM,
                         "--source-url", source_url], env=env, stdout=log_file, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL)
    return process, log_path


def log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(errors="replace").splitlines() if line.startswith("{")]


def cmdlines_with(secret: str) -> list[str]:
    """Every process on the machine whose command line holds ``secret``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # gone, or not ours to read
                continue
            if secret in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


def test_forwards_codec_copy_and_never_shows_the_key(nginx_media: NginxMediaServer, third_party: NginxMediaServer,
                                                    start_publisher, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    secret = f"sk-{uuid.uuid4().hex}"
    nginx_media.start(None)
    third_party.start(None)
    publisher = start_publisher(nginx_media.output(STREAM).ffmpeg_url)
    destination = f"rtmp://127.0.0.1:{third_party.rtmp_port}/live/{secret}"
    forwarder, log_path = start_forwarder(tmp_path, nginx_media.egress_source_url(STREAM), destination)
    try:
        assert wait_until(lambda: any(r["msg"].startswith("forwarding: media flows") for r in log_lines(log_path)),
                          30, abort=lambda: None if forwarder.poll() is None else "forwarder exited"), \
            log_path.read_text()[-3000:]
        assert cmdlines_with(secret) == []  # checked while nothing of ours holds the key in an argv
        streams = ffprobe_streams(f"rtmp://127.0.0.1:{third_party.rtmp_port}/live//{secret}")
        assert {s["codec_type"]: s["codec_name"] for s in streams} == {"video": "h264", "audio": "aac"}, streams
        assert cmdlines_with(secret) == []
        assert publisher.alive()

        forwarder.send_signal(signal.SIGTERM)
        assert forwarder.wait(timeout=20) == 0
    finally:
        terminate(forwarder, timeout=10)
    text = log_path.read_text(errors="replace")
    assert secret not in text
    records = log_lines(log_path)
    assert records and all(r["component"] == "egress-forwarder" and r["streamId"] == STREAM for r in records)
    started = next(r for r in records if r["msg"] == "forwarder started")
    assert started["destination"] == f"rtmp://127.0.0.1:{third_party.rtmp_port}/live/***"
    assert records[-1]["msg"] == "forwarder stopped"


def test_retries_with_backoff_until_the_destination_appears(nginx_media: NginxMediaServer,
                                                            third_party: NginxMediaServer, start_publisher,
                                                            tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    secret = f"sk-{uuid.uuid4().hex}"
    nginx_media.start(None)
    publisher = start_publisher(nginx_media.output(STREAM).ffmpeg_url)
    destination = f"rtmp://127.0.0.1:{third_party.rtmp_port}/live/{secret}"
    forwarder, log_path = start_forwarder(tmp_path, nginx_media.egress_source_url(STREAM), destination)

    def retries() -> list[dict]:
        return [r for r in log_lines(log_path) if r["msg"] == "forwarding interrupted; retrying"]

    try:
        # the destination is down: refused connections, backed off with growing delays
        assert wait_until(lambda: len(retries()) >= 4, 30,
                          abort=lambda: None if forwarder.poll() is None else "forwarder exited"), \
            log_path.read_text()[-3000:]
        failed = retries()[:4]
        assert [r["side"] for r in failed] == ["destination"] * 4
        assert [r["destinationFailures"] for r in failed] == [1, 2, 3, 4]
        delays = [r["retryInSeconds"] for r in failed]
        assert 0.1 <= delays[0] <= 0.2 and delays[2] > delays[0] and max(delays) <= 1.0, delays
        assert "Connection refused" in failed[0]["error"]
        assert publisher.alive()  # the forwarder's failures never reach the stream itself

        third_party.start(None)
        assert wait_until(lambda: any(r["msg"].startswith("forwarding: media flows") for r in log_lines(log_path)),
                          30, abort=lambda: None if forwarder.poll() is None else "forwarder exited"), \
            log_path.read_text()[-3000:]
        streams = ffprobe_streams(f"rtmp://127.0.0.1:{third_party.rtmp_port}/live//{secret}")
        assert {s["codec_type"]: s["codec_name"] for s in streams} == {"video": "h264", "audio": "aac"}, streams
        forwarder.send_signal(signal.SIGTERM)
        assert forwarder.wait(timeout=20) == 0
    finally:
        terminate(forwarder, timeout=10)
    assert secret not in log_path.read_text(errors="replace")


def rtsp_server_available() -> bool:
    code = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    probe = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, timeout=60)
    return probe.returncode == 0


@requires(rtsp_server_available(), "gir1.2-gst-rtsp-server-1.0 not installed")
def test_forwards_an_rtsp_source_like_mediamtx(third_party: NginxMediaServer, tmp_path: Path) -> None:
    """MediaMTX hands forwarders rtsp://<host>:8554/live/<id>/out (RTP H.264 + MPEG4-GENERIC AAC)."""
    secret = f"sk-{uuid.uuid4().hex}"
    third_party.start(None)
    port = free_port()
    server = spawn([sys.executable, str(Path(__file__).with_name("rtsp_server.py")), str(port),
                    f"live/{STREAM}/out"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL)
    forwarder = None
    try:
        assert wait_until(lambda: port_accepts("127.0.0.1", port), 20,
                          abort=lambda: None if server.poll() is None else "RTSP server exited")
        forwarder, log_path = start_forwarder(tmp_path, f"rtsp://127.0.0.1:{port}/live/{STREAM}/out",
                                              f"rtmp://127.0.0.1:{third_party.rtmp_port}/live/{secret}")
        assert wait_until(lambda: any(r["msg"].startswith("forwarding: media flows") for r in log_lines(log_path)),
                          30, abort=lambda: None if forwarder.poll() is None else "forwarder exited"), \
            log_path.read_text()[-3000:]
        streams = ffprobe_streams(f"rtmp://127.0.0.1:{third_party.rtmp_port}/live//{secret}")
        assert {s["codec_type"]: s["codec_name"] for s in streams} == {"video": "h264", "audio": "aac"}, streams
        forwarder.send_signal(signal.SIGTERM)
        assert forwarder.wait(timeout=20) == 0
        assert secret not in log_path.read_text(errors="replace")
    finally:
        if forwarder is not None:
            terminate(forwarder, timeout=10)
        terminate(server, timeout=10)
