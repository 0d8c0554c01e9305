"""`livedub demo` reads the worker's run bundle for its summary, and defaults to real dubbing."""

from __future__ import annotations

import json
from pathlib import Path

from livedub.cli import demo_cmd
from livedub.cli.common import REAL_MODE_DEFAULTS, real_mode_defaults
from livedub.config import load_settings
from livedub.config.settings import WorkerSettings
from livedub.demo.run import STREAM_ID, read_run, worker_start_failure


def write_run(root: Path, run_id: str, statuses: list[tuple[str, str | None, str | None]]) -> Path:
    run = root / "streams" / STREAM_ID / "runs" / run_id
    (run / "fragments").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"runId": run_id, "stsMode": "real", "status": "finished"}))
    for sequence, (status, reason, transcript) in enumerate(statuses):
        (run / "fragments" / f"{sequence:06d}.json").write_text(json.dumps({
            "sequence": sequence, "status": status, "reason": reason, "transcript": transcript,
            "translation": f"es: {transcript}" if transcript else None}))
    return run


def test_the_summary_counts_dubbed_and_fallback_fragments_and_shows_what_was_said(tmp_path: Path) -> None:
    write_run(tmp_path, "old", [("dubbed", None, None)])
    path = write_run(tmp_path, "r1", [("dubbed", None, "Hello."), ("fallback", "timeout", None),
                                      ("dubbed", None, None), ("fallback", "timeout", "Thanks."),
                                      ("fallback", "breaker-open", None)])
    run = read_run(tmp_path, "r1")
    assert run is not None and run.path == path
    assert run.fragment_counts() == {"total": 5, "dubbed": 2, "fallback": 3,
                                     "fallbackReasons": {"timeout": 2, "breaker-open": 1},
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
    tuned = load_settings(WorkerSettings, env={"WORKER_STS_MODE": "real", **{
        f"WORKER_{field.upper()}": value for field, value in REAL_MODE_DEFAULTS.items()}})
    assert tuned.buffer_target == 8.0 and tuned.max_inflight == 2 and tuned.breaker_latency_p95 == 6.0


def test_real_mode_defaults_give_way_to_what_the_user_set(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WORKER_BUFFER_TARGET", "12s")
    tuned = real_mode_defaults()
    assert "buffer_target" not in tuned and tuned["max_inflight"] == "2"
