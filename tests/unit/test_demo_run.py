"""`livedub demo` reads the worker's run bundle for its summary, and defaults to real dubbing."""

from __future__ import annotations

import json
from pathlib import Path

from livedub.cli import demo_cmd
from livedub.config import load_settings
from livedub.config.settings import WorkerSettings
from livedub.demo.run import STREAM_ID, read_run, worker_start_failure


def write_run(root: Path, run_id: str, statuses: list[tuple[str, str | None, str | None]],
              segments: list[str | None] | None = None) -> Path:
    run = root / "streams" / STREAM_ID / "runs" / run_id
    (run / "fragments").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"runId": run_id, "stsMode": "real", "status": "finished"}))
    for sequence, (status, reason, transcript) in enumerate(statuses):
        (run / "fragments" / f"{sequence:06d}.json").write_text(json.dumps({
            "sequence": sequence, "status": status, "reason": reason, "transcript": transcript,
            "translation": f"es: {transcript}" if transcript else None,
            "segmentId": segments[sequence] if segments else None, "tier": "fast" if status == "dubbed" else None}))
    return run


def test_the_summary_counts_dubbed_and_fallback_fragments_and_shows_what_was_said(tmp_path: Path) -> None:
    write_run(tmp_path, "old", [("dubbed", None, None)])
    path = write_run(tmp_path, "r1", [("dubbed", None, "Hello."), ("dubbed", None, None), ("no-speech", None, None),
                                      ("fallback", "timeout", "Thanks."), ("fallback", "timeout", None),
                                      ("fallback", "breaker-open", None)],
                     segments=["s0", "s0", None, "s1", "s1", "s2"])
    run = read_run(tmp_path, "r1")
    assert run is not None and run.path == path
    assert run.fragment_counts() == {"total": 6, "dubbed": 2, "fallback": 3,
                                     "fallbackReasons": {"timeout": 2, "breaker-open": 1}, "noSpeech": 1,
                                     "segments": 3, "segmentsDubbed": 1, "tiers": {"fast": 1},
                                     "stsMode": "real", "runId": "r1"}
    assert run.dub_lines() == [{"sequence": 0, "transcript": "Hello.", "translation": "es: Hello."},
                               {"sequence": 3, "transcript": "Thanks.", "translation": "es: Thanks."}]


def test_without_a_run_id_the_newest_bundle_is_read_and_bypass_has_none(tmp_path: Path) -> None:
    assert read_run(tmp_path) is None
    write_run(tmp_path, "only", [("dubbed", None, None)])
    run = read_run(tmp_path, "not-there")
    assert run is not None and run.manifest["runId"] == "only"


def test_a_worker_that_cannot_start_is_reported_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "orchestrator.log").write_text("\n".join([
        json.dumps({"msg": "cannot start the worker", "streamId": "other", "reason": "not this one"}),
        "not json",
        json.dumps({"msg": "cannot start the worker", "streamId": STREAM_ID, "reason": "kokoro: espeak-ng not on PATH"}),
    ]))
    assert worker_start_failure(tmp_path) == "kokoro: espeak-ng not on PATH"
    assert worker_start_failure(tmp_path / "nowhere") is None


def test_the_demo_dubs_for_real_by_default_with_settings_a_cpu_can_keep_up_with() -> None:
    assert demo_cmd.DEFAULT_MODE == "real"
    real = load_settings(WorkerSettings, env={"WORKER_STS_MODE": "real"})
    assert real.buffer_target == 5.0 and real.max_inflight == 1 and real.breaker_latency_p95 == 30.0
    bypass = load_settings(WorkerSettings, env={})
    assert bypass.sts_mode.value == "bypass" and bypass.buffer_target == 0.5  # no STS budget to pay for


def test_mode_defaults_give_way_to_what_the_user_set() -> None:
    tuned = load_settings(WorkerSettings, env={"WORKER_STS_MODE": "real", "WORKER_BUFFER_TARGET": "12s"})
    assert tuned.buffer_target == 12.0 and tuned.max_inflight == 1
    mock = load_settings(WorkerSettings, env={"WORKER_STS_MODE": "mock", "WORKER_MAX_INFLIGHT": "5"})
    assert mock.buffer_target == 3.0 and mock.max_inflight == 5
