"""Milestones B/C: `livedub worker` in bypass mode, end to end with real processes.

nginx-rtmp (the embedded media server) on free ports, ffmpeg publishing a marker stream to
``live/<id>/in`` (a black picture with a white frame and a 1 kHz beep together every 2 s, over a
quiet 300 Hz pilot tone so audio dropouts are visible), the worker as a subprocess, ffmpeg recording
``live/<id>/out``. The recording is then checked: every video frame decodes, audio covers the whole
duration, the flash-to-beep offset equals the input's within 40 ms. Two more ffmpeg readers stamp
``in`` and ``out`` frames with the wall clock, which measures the delay the worker adds.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from livedub.media.nginx import NginxMediaServer
from livedub.obs.metrics import free_port
from livedub.proc.child import terminate, wait_until
from tests.e2e.conftest import requires_media
from tests.e2e.media_analysis import (
    DURATION_S,
    FFMPEG_TIMEOUT_S,
    FLASH_PERIOD_S,
    FPS,
    RATE,
    SYNC_TOLERANCE_S,
    audio_track,
    beep_onsets,
    flash_times,
    flash_to_beep_offsets,
    longest_quiet_gap_s,
    make_marker_flv,
    parse_luma,
    video_frames,
)
from tests.e2e.worker_harness import (
    WorkerProcess,
    metric_value,
    metrics_text,
    publish,
    record,
    wait_exit,
    wallclock_luma_probe,
)

pytestmark = [pytest.mark.e2e, *requires_media]

DELAY = "500ms"


# -- tests ----------------------------------------------------------------------------------------
def test_bypass_republishes_markers_decodable_in_sync_and_exits_0_at_end_of_stream(
        media_server: NginxMediaServer, marker_flv: Path, tmp_path: Path) -> None:
    stream_id = "bypass1"
    worker = WorkerProcess(tmp_path, stream_id, media_server.worker_input_url(stream_id),
                           media_server.worker_output_url(stream_id), "--buffer-target", DELAY,
                           "--input-timeout", "30s")
    try:
        worker.wait_state("waiting_input", timeout=20)
        out_flv = tmp_path / "out.flv"
        recorder = record(media_server.output(stream_id).ffmpeg_url, out_flv)
        epoch = int(time.time())
        in_probe = wallclock_luma_probe(media_server.ingest(stream_id).ffmpeg_url, tmp_path / "in-wall.txt", epoch)
        out_probe = wallclock_luma_probe(media_server.output(stream_id).ffmpeg_url, tmp_path / "out-wall.txt", epoch)
        publisher = publish(media_server, stream_id, marker_flv, tmp_path)

        worker.wait_state("running", timeout=20)
        metrics_url = (worker.find(msg="worker starting") or {})["metricsUrl"]
        assert wait_until(lambda: metric_value(metrics_text(metrics_url), "worker_output_delay_seconds"), 10), (
            "the worker never reported its delay")
        live_metrics = metrics_text(metrics_url)

        assert wait_exit(publisher) == 0, (tmp_path / f"publish-{stream_id}.log").read_text()
        code = worker.wait_exit(timeout=30)
        assert code == 0, f"end of stream must exit 0, got {code}:\n{worker.log_text()}"
        for reader in (recorder, in_probe, out_probe):
            wait_exit(reader)
    finally:
        worker.stop()

    # the worker's own account: metrics while running, a delay line, states in order
    assert 'worker_state{worker_state="running"} 1.0' in live_metrics
    for name in ("worker_gst_bus_errors_total", "worker_gst_bus_warnings_total", "worker_av_sync_delta_ms",
                 'worker_input_position_seconds{track="video"}', 'worker_output_position_seconds{track="audio"}'):
        assert name in live_metrics, name
    # input attempts refused while nobody published yet are bus errors too; none may happen after that
    attempts = (worker.find(state="input_connected") or {})["attempts"]
    assert metric_value(live_metrics, "worker_gst_bus_errors_total") == attempts - 1
    assert metric_value(live_metrics, "worker_av_sync_delta_ms") == 0
    reported_delay_ms = (worker.find(state="stopped") or {})["addedDelayMs"]  # the worker's own median
    states = [r["state"] for r in worker.lines() if "state" in r]
    assert states == ["waiting_input", "input_connected", "running", "draining", "stopped"], states

    # every video frame of the recording decodes, none missing
    decode = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out_flv), "-map", "0:v", "-f", "null", "-"],
                            check=False, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S)
    assert decode.returncode == 0 and decode.stderr.strip() == "", decode.stderr
    in_frames = video_frames(marker_flv, tmp_path)
    out_frames = video_frames(out_flv, tmp_path)
    assert len(in_frames) == DURATION_S * FPS
    assert len(out_frames) >= len(in_frames) - 1, (len(out_frames), len(in_frames))
    steps = np.diff(sorted(f.time for f in out_frames))
    assert steps.max() <= 1.5 / FPS, f"gap of {steps.max():.3f}s between output frames"

    # audio covers the whole duration, without dropouts
    in_audio_start, in_audio = audio_track(marker_flv)
    out_audio_start, out_audio = audio_track(out_flv)
    video_span = max(f.time for f in out_frames) - min(f.time for f in out_frames) + 1 / FPS
    assert len(out_audio) / RATE >= video_span - 0.1, (len(out_audio) / RATE, video_span)
    assert longest_quiet_gap_s(out_audio[RATE // 10:-RATE // 10]) < 0.03

    # the flash-to-beep offset is the input's, within 40 ms, for every marker
    in_offsets = flash_to_beep_offsets(flash_times(in_frames), beep_onsets(in_audio_start, in_audio))
    out_offsets = flash_to_beep_offsets(flash_times(out_frames), beep_onsets(out_audio_start, out_audio))
    assert len(in_offsets) == DURATION_S // FLASH_PERIOD_S
    assert len(out_offsets) >= len(in_offsets) - 1, (in_offsets, out_offsets)
    reference = float(np.median(in_offsets))
    errors_ms = [round((o - reference) * 1000, 1) for o in out_offsets]
    assert all(abs(e) <= SYNC_TOLERANCE_S * 1000 for e in errors_ms), errors_ms

    # the delay the worker adds, measured on the wall clock (same flash seen on `in` and on `out`)
    in_wall = flash_times(parse_luma((tmp_path / "in-wall.txt").read_text()))
    out_wall = flash_times(parse_luma((tmp_path / "out-wall.txt").read_text()))
    delays = [o - i for i in in_wall for o in out_wall if 0 < o - i < FLASH_PERIOD_S / 2]
    assert len(delays) >= 2, (in_wall, out_wall)
    measured = float(np.median(delays))
    report = {"configuredDelayMs": 500, "reportedAddedDelayMs": reported_delay_ms,
              "measuredAddedDelayMs": round(measured * 1000, 1),
              "perFlashDelayMs": [round(d * 1000, 1) for d in delays],
              "inputFlashToBeepMs": round(reference * 1000, 1), "outputSyncErrorMs": errors_ms,
              "outputFrames": len(out_frames), "inputFrames": len(in_frames)}
    (tmp_path / "added_delay.json").write_text(json.dumps(report, indent=2))
    print("\nworker bypass:", json.dumps(report))
    assert 0.45 <= measured <= 0.8, report  # 500 ms constant delay + 20 ms sink deadline + jitter
    assert abs(measured * 1000 - reported_delay_ms) <= 60, report  # the worker's own account is right


@pytest.mark.parametrize(
    ("stream_id", "media_options", "exit_within_s", "reason"),
    [
        ("mp3audio", {"audio_codec": "libmp3lame", "duration_s": 6}, 10, "input audio is MP3; the worker needs AAC"),
        ("videoonly", {"with_audio": False, "duration_s": 10}, 15, "input has only video (h264)"),
    ],
)
def test_unsupported_input_exits_4_with_the_reason(media_server: NginxMediaServer, tmp_path: Path, stream_id: str,
                                                   media_options: dict, exit_within_s: float, reason: str) -> None:
    media = make_marker_flv(tmp_path / f"{stream_id}.flv", **media_options)
    worker = WorkerProcess(tmp_path, stream_id, media_server.worker_input_url(stream_id),
                           media_server.worker_output_url(stream_id), "--input-timeout", "30s")
    publisher = None
    try:
        worker.wait_state("waiting_input", timeout=20)
        publisher = publish(media_server, stream_id, media, tmp_path)
        code = worker.wait_exit(timeout=exit_within_s)
    finally:
        worker.stop()
        if publisher is not None:
            terminate(publisher, 5)
    assert code == 4, worker.log_text()
    assert reason in (worker.find(msg="worker failing") or {}).get("reason", ""), worker.log_text()


def test_no_input_exits_input_unavailable_after_the_timeout(media_server: NginxMediaServer, tmp_path: Path) -> None:
    worker = WorkerProcess(tmp_path, "nobody", media_server.worker_input_url("nobody"),
                           media_server.worker_output_url("nobody"), "--input-timeout", "2s")
    try:
        code = worker.wait_exit(timeout=20)
    finally:
        worker.stop()
    assert code == 3, worker.log_text()
    assert "no input within 2s" in (worker.find(msg="worker failing") or {}).get("reason", "")


def test_unreachable_media_server_is_retried_until_the_timeout(tmp_path: Path) -> None:
    port = free_port()  # nothing listens: every attempt is refused, the worker keeps trying, then exits 3
    worker = WorkerProcess(tmp_path, "refused", f"rtmp://127.0.0.1:{port}/live/refused/in",
                           f"rtmp://127.0.0.1:{port}/live/refused/out", "--input-timeout", "3s")
    try:
        code = worker.wait_exit(timeout=20)
    finally:
        worker.stop()
    assert code == 3, worker.log_text()
    reason = (worker.find(msg="worker failing") or {}).get("reason", "")
    attempts = int(reason.split("(")[1].split(" ")[0])
    assert attempts >= 2, reason


def test_sigterm_while_running_stops_promptly_with_0(media_server: NginxMediaServer, marker_flv: Path,
                                                     tmp_path: Path) -> None:
    stream_id = "sigterm"
    worker = WorkerProcess(tmp_path, stream_id, media_server.worker_input_url(stream_id),
                           media_server.worker_output_url(stream_id), "--buffer-target", DELAY)
    publisher = None
    try:
        worker.wait_state("waiting_input", timeout=20)
        publisher = publish(media_server, stream_id, marker_flv, tmp_path)
        worker.wait_state("running", timeout=20)
        worker.proc.send_signal(signal.SIGTERM)
        code = worker.wait_exit(timeout=5)
    finally:
        worker.stop()
        if publisher is not None:
            terminate(publisher, 5)
    assert code == 0, worker.log_text()
    assert (worker.find(msg="worker ending") or {}).get("reason") == "stop requested (SIGTERM)"


def test_sigterm_after_the_input_ended_plays_out_the_delayed_output_first(
        media_server: NginxMediaServer, marker_flv: Path, tmp_path: Path) -> None:
    """What the orchestrator does when a stream's grace period ends before its delay has played out:
    the worker waits for a reconnect (input_lost) while the last seconds are still in the delay, then
    gets SIGTERM. The viewer must still receive the whole stream."""
    stream_id = "termdrain"
    worker = WorkerProcess(tmp_path, stream_id, media_server.worker_input_url(stream_id),
                           media_server.worker_output_url(stream_id), "--buffer-target", "3s",
                           env={"WORKER_INPUT_RECONNECT": "60s"})
    try:
        worker.wait_state("waiting_input", timeout=20)
        out_flv = tmp_path / "out.flv"
        recorder = record(media_server.output(stream_id).ffmpeg_url, out_flv)
        publisher = publish(media_server, stream_id, marker_flv, tmp_path)
        worker.wait_state("running", timeout=20)
        assert wait_exit(publisher) == 0, (tmp_path / f"publish-{stream_id}.log").read_text()
        worker.wait_state("input_lost", timeout=10)
        worker.proc.send_signal(signal.SIGTERM)  # about 3 s of the stream are still in the delay
        code = worker.wait_exit(timeout=3 + 10)
        wait_exit(recorder)
    finally:
        worker.stop()
    assert code == 0, worker.log_text()
    states = [r["state"] for r in worker.lines() if "state" in r]
    assert states[-3:] == ["input_lost", "draining", "stopped"], states
    assert worker.find(msg="stop requested after the input ended: playing out the delayed output first")
    in_frames, out_frames = video_frames(marker_flv, tmp_path), video_frames(out_flv, tmp_path)
    assert len(out_frames) >= len(in_frames) - 1, (len(out_frames), len(in_frames))
    _start, out_audio = audio_track(out_flv)
    assert len(out_audio) / RATE >= DURATION_S - 0.2, len(out_audio) / RATE


def test_output_lost_while_running_is_a_bus_error_exit_1(media_server: NginxMediaServer, marker_flv: Path,
                                                          tmp_path: Path) -> None:
    stream_id = "outputlost"
    output_server = NginxMediaServer(rtmp_port=free_port(), api_port=free_port())
    output_server.start(None)
    worker = WorkerProcess(tmp_path, stream_id, media_server.worker_input_url(stream_id),
                           output_server.worker_output_url(stream_id), "--buffer-target", DELAY)
    publisher = None
    try:
        worker.wait_state("waiting_input", timeout=20)
        publisher = publish(media_server, stream_id, marker_flv, tmp_path)
        worker.wait_state("running", timeout=20)
        worker.wait_metric('worker_output_position_seconds{track="video"}', 2.0, 15)
        output_server.stop()  # the server the worker pushes to goes away mid-stream
        code = worker.wait_exit(timeout=15)
    finally:
        worker.stop()
        output_server.stop()
        if publisher is not None:
            terminate(publisher, 5)
    assert code == 1, worker.log_text()
    failure = worker.find(msg="worker failing") or {}
    assert failure.get("reason", "").startswith("output error: sink:"), failure
