"""The worker's production input: RTSP over TCP (MediaMTX serves ``rtsp://<host>:8554/live/<id>/in``).

No MediaMTX binary can be installed here, so a GStreamer RTSP server in the test process plays the
marker stream (H.264 + AAC as RFC 3640, like MediaMTX) over RTSP; the worker pulls it over TCP and
pushes to nginx-rtmp, and the recording is held to the same checks as the RTMP test. RTP carries no
DTS and B-frames arrive out of presentation order: this is where ``h264timestamper`` and the
RTP-only timestamps (``buffer-mode=none``) of the input pipeline earn their keep.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from livedub.media.nginx import NginxMediaServer
from livedub.obs.metrics import free_port
from livedub.proc.child import terminate
from tests.e2e.conftest import requires_media
from tests.e2e.media_analysis import (
    DURATION_S,
    FPS,
    RATE,
    SYNC_TOLERANCE_S,
    audio_track,
    beep_onsets,
    flash_times,
    flash_to_beep_offsets,
    longest_quiet_gap_s,
    video_frames,
)
from tests.e2e.worker_harness import WorkerProcess, record, wait_exit
from tests.require import missing

pytestmark = [pytest.mark.e2e, *requires_media]


@pytest.fixture
def rtsp_url(marker_flv: Path) -> Iterator[str]:
    """``rtsp://127.0.0.1:<free>/live/rtsp1/in`` playing the marker stream, one fresh pipeline per client."""
    from livedub.gst import GLib

    try:
        import gi

        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GstRtspServer
    except (ValueError, ImportError):
        missing("gir1.2-gst-rtsp-server-1.0 not installed")
    port = free_port()
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( filesrc location={marker_flv} ! flvdemux name=d "
        "d.video ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 "
        "d.audio ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97 )")
    factory.set_shared(False)
    server.get_mount_points().add_factory("/live/rtsp1/in", factory)
    context = GLib.MainContext.new()
    source_id = server.attach(context)
    loop = GLib.MainLoop.new(context, False)
    thread = threading.Thread(target=loop.run, name="rtsp-server", daemon=True)
    thread.start()
    try:
        yield f"rtsp://127.0.0.1:{port}/live/rtsp1/in"
    finally:
        loop.quit()
        thread.join(timeout=5)
        context.find_source_by_id(source_id).destroy()


def test_rtsp_input_comes_out_decodable_in_sync_and_exits_0(
        media_server: NginxMediaServer, rtsp_url: str, tmp_path: Path) -> None:
    stream_id = "rtsp1"
    out_flv = tmp_path / "out.flv"
    recorder = record(media_server.output(stream_id).ffmpeg_url, out_flv)
    worker = WorkerProcess(tmp_path, stream_id, rtsp_url, media_server.worker_output_url(stream_id),
                           "--buffer-target", "500ms", "--input-timeout", "20s")
    try:
        code = worker.wait_exit(timeout=DURATION_S + 20)
        wait_exit(recorder)
    finally:
        worker.stop()
        terminate(recorder, 5)
    assert code == 0, worker.log_text()
    tracks = {r["track"]: r["detail"] for r in worker.lines() if r.get("msg") == "input track"}
    assert tracks == {"video": "RTP H264", "audio": "RTP MPEG4-GENERIC, 48000 Hz"}

    frames = video_frames(out_flv, tmp_path)
    assert len(frames) >= DURATION_S * FPS - 1, len(frames)
    times = sorted(f.time for f in frames)
    assert np.diff(times).max() <= 1.5 / FPS  # DTS rebuilt: no frame lost or reordered in time
    start, audio = audio_track(out_flv)
    assert len(audio) / RATE >= times[-1] - times[0] - 0.1
    assert longest_quiet_gap_s(audio[RATE // 10:-RATE // 10]) < 0.03
    offsets = flash_to_beep_offsets(flash_times(frames), beep_onsets(start, audio))
    assert len(offsets) == DURATION_S // 2, offsets
    assert all(abs(o) <= SYNC_TOLERANCE_S for o in offsets), offsets  # the input's offset is 0
