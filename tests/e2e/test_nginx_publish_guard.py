"""Real nginx-rtmp + ffmpeg: publishing live/<id>/out is reserved to this machine's workers (the hook
bridge answers 403 to ``on_publish``, nginx refuses the publisher), ingest is always accepted, even
with the orchestrator down."""

from __future__ import annotations

import socket
import subprocess

from livedub.media.base import HookTarget
from livedub.media.nginx import NginxMediaServer
from livedub.obs.metrics import free_port
from livedub.proc.child import wait_until
from tests.require import missing

from .conftest import publish_once, requires_media

pytestmark = requires_media


def lan_address() -> str | None:
    """This machine's non-loopback IPv4 address (a UDP "connect" sends nothing), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
        except OSError:
            return None
        addr = probe.getsockname()[0]
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


def test_outputs_only_from_this_machine_ingest_from_anywhere(nginx_media: NginxMediaServer) -> None:
    addr = lan_address()
    if addr is None:
        missing("no non-loopback address to publish from")
    nginx_media.start(HookTarget(f"http://127.0.0.1:{free_port()}"))  # the orchestrator is down
    port = nginx_media.rtmp_port
    ours = publish_once(f"rtmp://127.0.0.1:{port}/live//cam/out")
    assert ours.returncode == 0, ours.stderr  # a worker (MEDIA_HOST 127.0.0.1) publishes its output
    theirs = publish_once(f"rtmp://{addr}:{port}/live//cam/out")
    assert theirs.returncode != 0, "a publisher from another address took over live/cam/out"
    ingest = publish_once(f"rtmp://{addr}:{port}/live//cam/in")
    assert ingest.returncode == 0, ingest.stderr


def test_with_idle_streams_the_viewers_of_a_stopped_output_are_ended(nginx_media: NginxMediaServer,
                                                                     tmp_path) -> None:
    """idle_streams on (the ingest hold needs it) lets a viewer wait for an output that is not published
    yet, and nginx would keep it waiting after the worker stopped: ffmpeg players never end. The bridge
    drops them when the output's publisher is done."""
    assert nginx_media.idle_streams
    nginx_media.start(HookTarget(f"http://127.0.0.1:{free_port()}"))
    url = f"rtmp://127.0.0.1:{nginx_media.rtmp_port}/live//cam/out"
    recording = tmp_path / "viewer.flv"
    viewer = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", url,
                               "-c", "copy", "-f", "flv", str(recording)],  # no -rw_timeout: it would wait for ever
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: nginx_media.path_readers("live/cam/out") == 1, 10), "the viewer never waited"
        published = publish_once(url)
        assert published.returncode == 0, published.stderr
        viewer.wait(timeout=10)
    finally:
        viewer.kill()
        viewer.wait()
    assert recording.stat().st_size > 1000  # it got the stream before it ended
    assert nginx_media.path_readers("live/cam/out") == 0
