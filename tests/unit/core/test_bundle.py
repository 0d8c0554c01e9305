"""Run bundle: layout, atomic writes, no secrets, optional audio capture, retention."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from livedub.config import load_settings
from livedub.config.settings import PathSettings, WorkerSettings
from livedub.core.bundle import RunBundle, new_run_id, purge_runs, runs_dir, scrub
from livedub.core.clock import FakeClock
from livedub.core.executor import ManualExecutor
from livedub.core.factory import create_core
from livedub.core.mock_sts import ToneSts
from tests.unit.core.helpers import SECOND, noise, speechlike

SECRET_URL = "rtmp://a.rtmp.youtube.com/live2/abcd-SECRET-efgh"


def test_scrub_drops_secret_keys_and_redacts_urls() -> None:
    cleaned = scrub({"outputUrl": SECRET_URL, "note": f"pushing to {SECRET_URL}", "streamKey": "SECRET",
                     "nested": [{"token": "SECRET", "ok": 1}], "stsMode": "mock"})
    text = json.dumps(cleaned)
    assert "SECRET" not in text
    assert cleaned["stsMode"] == "mock" and cleaned["nested"] == [{"ok": 1}]
    assert "rtmp://a.rtmp.youtube.com/live2/***" in cleaned["note"]


def test_bundle_ids_cannot_escape_the_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        RunBundle(tmp_path, "../etc", "run1")
    with pytest.raises(ValueError):
        RunBundle(tmp_path, "ok", "../../x")


def core_with_bundle(tmp_path: Path, debug_artifacts: bool, run_id: str = "run-1"):
    worker = load_settings(WorkerSettings, env={"WORKER_STREAM_ID": "cam1", "WORKER_OUTPUT_URL": SECRET_URL,
                                                "WORKER_STS_MODE": "mock"})
    paths = load_settings(PathSettings, env={"LIVEDUB_DATA_DIR": str(tmp_path),
                                             "LIVEDUB_DEBUG_ARTIFACTS": str(debug_artifacts).lower()})
    clock, executor = FakeClock(), ManualExecutor()
    core = create_core(worker, paths, processor=ToneSts(), registry=CollectorRegistry(), clock=clock,
                       executor=executor, run_id=run_id)
    return core, clock, executor


def drive(core, clock, executor, seconds: float = 4.4) -> None:
    def answer() -> None:
        for job in executor.pending():
            if job.call.args[0].sequence != 1:  # fragment 1 times out
                job.run()

    audio = speechlike(seconds)
    for start in range(0, len(audio), 960):
        clock.advance_to((start + 960) * SECOND // 48_000)
        core.push(audio[start : start + 960], start * SECOND // 48_000)
        answer()
        core.pull()
    core.flush()
    answer()
    while not core.finished:
        clock.advance_to(core.next_due_ns())
        core.pull()
    core.close()


def test_run_bundle_has_manifest_and_one_json_per_fragment(tmp_path: Path) -> None:
    core, clock, executor = core_with_bundle(tmp_path, debug_artifacts=False)
    run = tmp_path / "streams" / "cam1" / "runs" / "run-1"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "running" and manifest["stsMode"] == "mock"
    drive(core, clock, executor)

    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["summary"]["fragments"] == 3 and manifest["summary"]["fallbacks"] == {"timeout": 1}
    files = sorted(p.name for p in (run / "fragments").iterdir())
    assert files == ["000000.json", "000001.json", "000002.json"]  # no audio unless asked for
    record = json.loads((run / "fragments" / "000001.json").read_text())
    assert record["status"] == "fallback" and record["reason"] == "timeout" and record["fallback"] == "pass-through"
    assert record["timing"]["emittedAtNs"] == record["timing"]["deadlineNs"]
    dubbed = json.loads((run / "fragments" / "000000.json").read_text())
    assert dubbed["status"] == "dubbed" and dubbed["rttMs"] == 0.0 and dubbed["transcript"] == "<tone 440 Hz>"
    everything = "".join(p.read_text() for p in run.rglob("*.json"))
    assert "SECRET" not in everything and "rtmp://" not in everything
    assert not list(run.rglob("*.tmp"))


def test_a_finished_run_has_captions_of_what_was_dubbed_only(tmp_path: Path) -> None:
    core, clock, executor = core_with_bundle(tmp_path, debug_artifacts=False)
    drive(core, clock, executor)
    run = tmp_path / "streams" / "cam1" / "runs" / "run-1"
    manifest = json.loads((run / "manifest.json").read_text())
    # the mock STS transcribes (a tone's name) but does not translate: only the source track has cues
    assert manifest["captions"] == ["captions.en.vtt", "captions.en.srt"]
    vtt = (run / "captions.en.vtt").read_text()
    assert vtt.startswith("WEBVTT") and vtt.count(" --> ") == 2  # fragments 0 and 2; 1 fell back
    assert "&lt;tone" in vtt and "<tone" in (run / "captions.en.srt").read_text()
    assert not (run / "captions.es.vtt").exists()


def test_audio_capture_is_opt_in(tmp_path: Path) -> None:
    core, clock, executor = core_with_bundle(tmp_path, debug_artifacts=True)
    drive(core, clock, executor)
    fragments = tmp_path / "streams" / "cam1" / "runs" / "run-1" / "fragments"
    assert (fragments / "000000.in.wav").stat().st_size > 48_000 * 4
    assert (fragments / "000002.out.wav").exists()


def test_retention_keeps_the_newest_runs_and_drops_old_ones(tmp_path: Path) -> None:
    directory = runs_dir(tmp_path, "cam1")
    now = 1_000_000.0
    for index in range(6):
        bundle = RunBundle(tmp_path, "cam1", f"run-{index}")
        bundle.start({})
        age = (6 - index) * 3600.0  # run-0 oldest
        os.utime(bundle.path / "manifest.json", (now - age, now - age))
    removed = purge_runs(directory, keep=4, max_age_s=5.5 * 3600, now_s=now, protect={"run-0"})
    assert sorted(removed) == ["run-1"]  # run-0 is protected (current run), run-1 is too old and 5th newest
    removed = purge_runs(directory, keep=2, max_age_s=100 * 3600, now_s=now)
    assert sorted(removed) == ["run-0", "run-2", "run-3"]
    assert sorted(p.name for p in directory.iterdir()) == ["run-4", "run-5"]


def test_create_core_purges_old_runs_but_never_the_new_one(tmp_path: Path) -> None:
    for index in range(3):
        RunBundle(tmp_path, "cam1", f"old-{index}").start({})
    worker = load_settings(WorkerSettings, env={"WORKER_STREAM_ID": "cam1", "WORKER_STS_MODE": "mock"})
    paths = load_settings(PathSettings, env={"LIVEDUB_DATA_DIR": str(tmp_path), "LIVEDUB_RUN_KEEP": "2"})
    run_id = new_run_id()
    create_core(worker, paths, processor=ToneSts(), registry=CollectorRegistry(), executor=ManualExecutor(),
                run_id=run_id).close()
    left = sorted(p.name for p in runs_dir(tmp_path, "cam1").iterdir())
    assert run_id in left and len(left) == 2


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = RunBundle(tmp_path, "cam1", "r")
    bundle.start({"n": 1})

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("livedub.files.os.replace", crash)
    with pytest.raises(OSError):
        bundle.start({"n": 2})
    assert json.loads((bundle.path / "manifest.json").read_text())["n"] == 1
    assert not list(bundle.path.glob(".*.tmp"))  # the temp file is cleaned up


def test_a_bundle_write_failure_does_not_stop_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    core, clock, _ = core_with_bundle(tmp_path, debug_artifacts=False)

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(RunBundle, "record_fragment", full_disk)
    audio = noise(2.0)
    emitted = []
    for start in range(0, len(audio), 960):
        clock.advance_to((start + 960) * SECOND // 48_000)
        core.push(audio[start : start + 960], start * SECOND // 48_000)
        emitted += core.pull()
    clock.advance_to(10 * SECOND)
    emitted += core.pull()
    core.close()  # the records are written on the bundle's own thread; close waits for them
    assert len(emitted) >= 1
    assert core.metrics.value("worker_run_bundle_write_errors_total") == len(emitted)
    assert any("run bundle write failed" in r.getMessage() for r in caplog.records)
