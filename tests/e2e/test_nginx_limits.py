"""The embedded nginx under connection pressure: 1100 idle TCP connections (what exhausted the old
1024) do not stop a new viewer or the /stat page, and a socket that never completes its RTMP
handshake is dropped within 10 s, not nginx's default minute."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx
import pytest

from livedub.media.nginx import NginxMediaServer
from livedub.proc.child import wait_until

from .conftest import RW_TIMEOUT_US, requires_media

pytestmark = requires_media

IDLE_CONNECTIONS = 1100


@pytest.mark.timeout(120)
def test_idle_connections_do_not_stop_a_new_viewer_and_are_dropped_quickly(nginx_media: NginxMediaServer,
                                                                           start_publisher) -> None:  # type: ignore[no-untyped-def]
    nginx_media.start(None)
    start_publisher(nginx_media.ingest("busy").ffmpeg_url)
    assert wait_until(lambda: nginx_media.path_is_live("live/busy/in"), 20)
    idle: list[socket.socket] = []
    try:
        for _ in range(IDLE_CONNECTIONS):  # connect and say nothing, like a scanner or a stuck client
            idle.append(socket.create_connection(("127.0.0.1", nginx_media.rtmp_port), timeout=5))
        opened_at = time.monotonic()
        assert httpx.get(f"http://127.0.0.1:{nginx_media.api_port}/stat", timeout=5).status_code == 200
        viewer = subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-rw_timeout", RW_TIMEOUT_US,
             "-i", nginx_media.ingest("busy").ffmpeg_url, "-map", "0:v:0", "-frames:v", "1", "-f", "null", "-"],
            check=False, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert viewer.returncode == 0, viewer.stderr[-500:]
        # nginx drops a connection that has not completed its handshake after its 10 s socket timeout
        probe = idle[0]
        probe.settimeout(max(0.1, opened_at + 20 - time.monotonic()))
        assert probe.recv(1) == b"", "the idle connection was not closed by the server"
        assert time.monotonic() - opened_at < 20
    finally:
        for sock in idle:
            sock.close()
