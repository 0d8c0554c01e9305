"""The audio seam: PCM chunks keep their input timestamps; bypass is the identity; mock and real run
the streaming core behind the same calls (pulled on time, drained after the input ends)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from livedub.config import load_settings
from livedub.config.settings import PathSettings, StsMode, WorkerSettings
from livedub.core.messages import AudioFragment
from livedub.core.mock_sts import ToneSts
from livedub.core.processor import StsError, Unavailable
from livedub.processors import STS_MODES, DubEngine, with_faults
from livedub.worker.audio_path import (
    AudioPath,
    AudioPathContext,
    BypassAudioPath,
    OverlapTrimmer,
    PcmChunk,
    create_audio_path,
)
from livedub.worker.dub_path import DubAudioPath
from tests.unit.core.helpers import SECOND, make_rig, noise

CHUNK_NS = 20_000_000  # 960 frames


def context(tmp_path: Path, **env: str) -> AudioPathContext:
    worker = load_settings(WorkerSettings, env={"WORKER_STREAM_ID": "seam", **env})
    paths = load_settings(PathSettings, env={"LIVEDUB_DATA_DIR": str(tmp_path)})
    return AudioPathContext(worker, paths, CollectorRegistry(), "run-1")


def chunk(pts_ns: int, frames: int = 1024, value: int = 0) -> PcmChunk:
    return PcmChunk(pts_ns, np.full((frames, 2), value, dtype=np.int16))


def test_chunk_round_trips_s16le_bytes() -> None:
    samples = np.arange(-8, 8, dtype=np.int16).reshape(-1, 2)
    data = samples.astype("<i2").tobytes()
    parsed = PcmChunk.from_bytes(123, data)
    assert parsed.frames == 8 and parsed.pts_ns == 123
    assert np.array_equal(parsed.samples, samples)
    assert parsed.to_bytes() == data


def test_chunk_duration_follows_48k_frames() -> None:
    assert chunk(0, frames=48_000).duration_ns == 1_000_000_000
    assert chunk(0, frames=1024).duration_ns == 21_333_333


@pytest.mark.parametrize("samples", [np.zeros((4, 1), np.int16), np.zeros((4, 2), np.float32), np.zeros(8, np.int16)])
def test_chunk_rejects_anything_but_int16_stereo(samples: np.ndarray) -> None:
    with pytest.raises(ValueError):
        PcmChunk(0, samples)


def test_chunk_rejects_a_partial_frame() -> None:
    with pytest.raises(ValueError, match="whole number"):
        PcmChunk.from_bytes(0, b"\x00\x01\x02")


def test_bypass_returns_every_chunk_unchanged_and_in_order() -> None:
    path: AudioPath = BypassAudioPath()
    sent = [chunk(i * 21_333_333, value=i) for i in range(5)]
    received: list[PcmChunk] = []
    for item in sent:
        path.push(item)
        received += path.pull()
    assert path.pull() == []
    assert received == sent  # same objects: identity, timestamps untouched
    path.push(chunk(999))
    path.finish()
    assert not path.drained
    assert [c.pts_ns for c in path.pull()] == [999]
    assert path.drained and path.next_pull_in_s() is None


def test_bypass_is_the_default_mode(tmp_path: Path) -> None:
    assert isinstance(create_audio_path(context(tmp_path)), BypassAudioPath)


def test_every_sts_mode_has_one_entry_and_only_bypass_skips_the_core() -> None:
    assert set(STS_MODES) == set(StsMode)
    assert {mode for mode, spec in STS_MODES.items() if not spec.live_core} == {StsMode.bypass}


def test_dub_path_hands_out_fragments_on_time_in_order_and_drains_after_finish() -> None:
    rig = make_rig(ToneSts(), noise(2.5), delay_s=3.0, lead_s=0.2)  # fixed 1 s fragments
    path: AudioPath = DubAudioPath(rig.core, rig.clock)
    out: list[PcmChunk] = []
    for index in range(125):  # 2.5 s of input, the clock following it as live input does
        pts = index * CHUNK_NS
        rig.clock.advance_to(pts + CHUNK_NS)
        path.push(PcmChunk(pts, rig.audio[index * 960:(index + 1) * 960]))
        out += path.pull()
        for job in rig.executor.pending():
            job.run()
    assert out == []  # nothing is due before delay - lead
    # fragment 0 (0-1 s) is due at 3 s - 0.2 s; without a push the path says when to pull
    assert path.next_pull_in_s() == pytest.approx(0.3)
    path.finish()  # the last 0.5 s becomes fragment 2
    for job in rig.executor.pending():
        job.run()
    pulls = 0
    while not path.drained:
        wait = path.next_pull_in_s()
        assert wait is not None, "a path holding audio must say when to pull"
        rig.clock.advance(round(wait * SECOND))
        out += path.pull()
        pulls += 1
    assert pulls == 3  # one pull per due fragment, none early
    assert [c.pts_ns for c in out] == [0, SECOND, 2 * SECOND]
    assert [c.frames for c in out] == [48_000, 48_000, 24_000]
    tone = ToneSts()
    for k, c in enumerate(out):  # the mock dub: fragment k is ToneSts' tone k, on the input timeline
        spectrum = np.abs(np.fft.rfft(c.samples[:, 0].astype(np.float64)))
        assert np.argmax(spectrum) * 48_000 / len(c.samples) == pytest.approx(tone.frequency(k), abs=2)
    path.close()
    path.close()  # idempotent


def test_an_anchored_dub_path_is_due_by_the_given_anchor_not_by_when_audio_arrived() -> None:
    # the output plays input PTS p at p + offset + delay; audio arriving 0.4 s after its video
    # (decoder, start-up) must not make every fragment 0.4 s late for it
    rig = make_rig(ToneSts(), noise(1.5), delay_s=3.0, lead_s=0.2)
    path: AudioPath = DubAudioPath(rig.core, rig.clock)
    offset = 5 * SECOND
    path.anchor(offset)
    rig.clock.advance_to(offset + 400_000_000)  # the first chunk arrives 0.4 s late
    for index in range(75):
        path.push(PcmChunk(index * CHUNK_NS, rig.audio[index * 960:(index + 1) * 960]))
    for job in rig.executor.pending():
        job.run()
    assert path.pull() == []  # collects the dub; nothing is due yet
    # fragment 0 is due at 0 + offset + 3 s - 0.2 s, whatever the arrival
    assert path.next_pull_in_s() == pytest.approx((offset + 2_800_000_000 - rig.clock.now()) / SECOND)
    with pytest.raises(RuntimeError, match="already fixed"):
        path.anchor(offset + 1)


def test_bypass_ignores_the_anchor() -> None:
    path = BypassAudioPath()
    path.anchor(123)
    path.push(chunk(0))
    assert [c.pts_ns for c in path.pull()] == [0]


def test_mock_mode_runs_the_core_with_its_metrics_on_the_worker_registry_and_a_run_bundle(tmp_path: Path) -> None:
    ctx = context(tmp_path, WORKER_STS_MODE="mock")
    path = create_audio_path(ctx)
    assert isinstance(path, DubAudioPath)
    names = {metric.name for metric in ctx.registry.collect()}
    for name in ("worker_audio_fragments", "worker_fallback", "worker_inflight_fragments", "worker_sts_breaker_state",
                 "worker_sts_rtt_ms", "worker_chunk_end_to_end_latency_ms"):
        assert name in names, names
    path.close()
    manifest = json.loads((tmp_path / "streams/seam/runs/run-1/manifest.json").read_text())
    assert manifest["runId"] == "run-1" and manifest["stsMode"] == "mock" and manifest["status"] == "finished"


def test_a_delay_too_short_for_dubbing_is_refused_before_any_model_loads(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="WORKER_BUFFER_TARGET must exceed"):
        create_audio_path(context(tmp_path, WORKER_STS_MODE="real", WORKER_BUFFER_TARGET="1s"))


def test_a_missing_model_package_is_a_clear_permanent_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from livedub.sts import registry

    key = (registry.Stage.asr, "whisper-base")
    missing = replace(registry._BY_KEY[key], modules=("livedub_no_such_model_package",))
    monkeypatch.setitem(registry._BY_KEY, key, missing)
    with pytest.raises(Unavailable, match="livedub_no_such_model_package not installed.*fix:"):
        create_audio_path(context(tmp_path, WORKER_STS_MODE="real"))


def test_fault_injection_fails_every_call_at_rate_1() -> None:
    worker = load_settings(WorkerSettings, env={"WORKER_STS_FAULT_FAILURE_RATE": "1"})
    engine = with_faults(DubEngine(ToneSts()), worker)
    one = AudioFragment("f", "s", 0, 0, SECOND, np.zeros((48_000, 2), np.int16))
    with pytest.raises(StsError, match="injected failure"):
        engine.processor.process(one)


def test_fault_injection_adds_real_latency_and_passes_results_through() -> None:
    worker = load_settings(WorkerSettings, env={"WORKER_STS_FAULT_LATENCY": "150ms"})
    engine = with_faults(DubEngine(ToneSts()), worker)
    one = AudioFragment("f", "s", 2, 0, SECOND, np.zeros((48_000, 2), np.int16))
    started = time.monotonic()
    dubbed = engine.processor.process(one)
    assert time.monotonic() - started >= 0.15
    assert dubbed.transcript == "<tone 660 Hz>"


def test_no_fault_settings_leave_the_engine_alone() -> None:
    engine = DubEngine(ToneSts())
    assert with_faults(engine, load_settings(WorkerSettings, env={})) is engine


def test_trimmer_passes_contiguous_audio_and_gaps_untouched() -> None:
    trimmer = OverlapTrimmer()
    first, second = chunk(0, frames=1024), chunk(21_333_333, frames=1024)
    gap = chunk(1_000_000_000, frames=1024)
    assert trimmer.fix(first) is first
    assert trimmer.fix(second) is second  # within the 1 ms tolerance of the previous end
    assert trimmer.fix(gap) is gap
    assert trimmer.trimmed_frames == 0


def test_trimmer_cuts_the_overlapping_head_and_drops_a_chunk_already_played() -> None:
    trimmer = OverlapTrimmer()
    trimmer.fix(chunk(0, frames=1024, value=1))
    duplicate = trimmer.fix(chunk(0, frames=1024, value=2))  # same stamp twice (RTSP start)
    assert duplicate is None
    half = trimmer.fix(chunk(10_666_667, frames=1024, value=3))  # overlaps by 512 frames
    assert half is not None
    assert half.frames == 512 and half.pts_ns == 21_333_333
    assert trimmer.trimmed_frames == 1024 + 512
