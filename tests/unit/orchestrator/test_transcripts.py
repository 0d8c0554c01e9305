"""The console's view of a run: read forward from the worker's run bundle."""

from __future__ import annotations

import json
from pathlib import Path

from livedub.core.bundle import runs_dir
from livedub.orchestrator.transcripts import RunTail


def bundle(root: Path, run: str) -> Path:
    directory = runs_dir(root, "cam1") / run
    (directory / "fragments").mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_text(json.dumps({"stsMode": "real", "delayMs": 5000.0}))
    return directory


def write(run: Path, sequence: int, *, segment: str | None = None, status: str = "no-speech", reason: str | None = None,
          tier: str | None = None, transcript: str | None = None, translation: str | None = None) -> None:
    record = {"sequence": sequence, "speech": segment is not None, "segmentId": segment, "status": status,
              "reason": reason, "tier": tier, "transcript": transcript, "translation": translation}
    (run / "fragments" / f"{sequence:06d}.json").write_text(json.dumps(record))


def test_the_view_follows_the_bundle_skips_a_dropped_record_and_restarts_with_a_new_run(tmp_path: Path) -> None:
    tail = RunTail(tmp_path, keep=3)
    assert tail.view("cam1", None) == {} and tail.view("cam1", "r1") == {}  # no bundle yet
    r1 = bundle(tmp_path, "r1")
    write(r1, 0, segment="s0", status="dubbed", tier="fast", transcript="Hello.", translation="Hola.")
    write(r1, 1)  # no speech: no line, no segment
    write(r1, 3, segment="s1", status="fallback", reason="timeout")  # record 2 was dropped by the bundle writer
    write(r1, 4, segment="s1", status="fallback", reason="timeout")
    view = tail.view("cam1", "r1")
    assert (view["mode"], view["delayMs"], view["segments"], view["dubbed"]) == ("real", 5000.0, 2, 1)
    assert view["fallbacks"] == {"timeout": 2} and view["tier"] == "fast"
    assert [(line["sequence"], line["translation"]) for line in view["lines"]] == [(0, "Hola.")]
    for sequence in range(5, 9):
        write(r1, sequence, segment=f"s{sequence}", status="dubbed", tier="natural", transcript=f"line {sequence}",
              translation=f"línea {sequence}")
    view = tail.view("cam1", "r1")
    assert [line["sequence"] for line in view["lines"]] == [6, 7, 8] and view["tier"] == "natural"  # the newest three
    assert (view["segments"], view["dubbed"]) == (6, 5)
    r2 = bundle(tmp_path, "r2")
    write(r2, 0, segment="s0", status="dubbed", transcript="New run.", translation="Nueva.")
    assert [line["translation"] for line in tail.view("cam1", "r2")["lines"]] == ["Nueva."]
    tail.forget(set())  # the stream left the list: its tail is dropped, and read from the start if it comes back
    assert tail.view("cam1", "r2")["segments"] == 1
