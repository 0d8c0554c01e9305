"""The console's lines: what a worker heard and said, read forward from its run bundle."""

from __future__ import annotations

import json
from pathlib import Path

from livedub.core.bundle import runs_dir
from livedub.orchestrator.transcripts import TranscriptTail


def write(root: Path, run: str, sequence: int, transcript: str | None, translation: str | None = None) -> None:
    directory = runs_dir(root, "cam1") / run / "fragments"
    directory.mkdir(parents=True, exist_ok=True)
    record = {"sequence": sequence, "transcript": transcript, "translation": translation, "tier": "fast"}
    (directory / f"{sequence:06d}.json").write_text(json.dumps(record))


def test_lines_follow_the_bundle_skip_a_dropped_record_and_restart_with_a_new_run(tmp_path: Path) -> None:
    tail = TranscriptTail(tmp_path, keep=3)
    assert tail.lines("cam1", None) == [] and tail.lines("cam1", "r1") == []
    write(tmp_path, "r1", 0, "Hello.", "Hola.")
    write(tmp_path, "r1", 1, None)  # a fragment without speech: no line
    write(tmp_path, "r1", 3, "Bye.", "Adiós.")  # record 2 was dropped by the bundle writer
    assert [(line["sequence"], line["translation"]) for line in tail.lines("cam1", "r1")] == [(0, "Hola."), (3, "Adiós.")]
    for sequence in range(4, 8):
        write(tmp_path, "r1", sequence, f"line {sequence}", f"línea {sequence}")
    assert [line["sequence"] for line in tail.lines("cam1", "r1")] == [5, 6, 7]  # the newest three
    write(tmp_path, "r2", 0, "New run.", "Nueva.")
    assert [line["translation"] for line in tail.lines("cam1", "r2")] == ["Nueva."]
    tail.forget(set())  # the stream left the list: its tail is dropped, and read from the start if it comes back
    assert [line["translation"] for line in tail.lines("cam1", "r2")] == ["Nueva."]
