"""BundleWriter: run-bundle records leave the caller's thread, bounded, nothing written twice or lost
silently. The writer's thread is held at a gate (an Event), never by sleeping."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from livedub.core.bundle import RunBundle
from livedub.core.bundle_writer import BundleWriter
from livedub.core.messages import FragmentResult, FragmentStatus, FragmentTiming


def result(sequence: int) -> FragmentResult:
    return FragmentResult(f"cam1-{sequence:06d}", sequence, sequence * 1_500_000_000, 1_500_000_000,
                          FragmentStatus.no_speech, FragmentTiming(arrived_at=0, deadline=1), speech=False)


class GatedBundle(RunBundle):
    """A bundle whose first write waits until the test opens the gate: the disk 'fell behind'."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gate, self.writing = threading.Event(), threading.Event()
        self.writer_threads: set[str] = set()

    def record_fragment(self, result, input_audio=None, output_audio=None) -> None:
        self.writer_threads.add(threading.current_thread().name)
        self.writing.set()
        assert self.gate.wait(10), "the test never opened the gate"
        super().record_fragment(result, input_audio, output_audio)


def records(bundle: RunBundle) -> list[int]:
    return sorted(json.loads(p.read_text())["sequence"] for p in (bundle.path / "fragments").glob("*.json"))


def test_records_are_written_on_the_writer_thread_and_all_of_them_by_close(tmp_path: Path) -> None:
    bundle = GatedBundle(tmp_path, "cam1", "run-1")
    bundle.start({})
    writer = BundleWriter(bundle, max_pending=8)
    for sequence in range(5):
        writer.record_fragment(result(sequence))  # returns at once although the disk is held
    assert bundle.writing.wait(10)
    assert records(bundle) == []
    bundle.gate.set()
    writer.close({"fragments": 5})
    assert records(bundle) == [0, 1, 2, 3, 4]
    assert bundle.writer_threads == {"run-bundle-writer"}
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["summary"] == {"fragments": 5}


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    bundle = GatedBundle(tmp_path, "cam1", "run-1")
    bundle.start({})
    dropped: list[tuple[int, int]] = []
    writer = BundleWriter(bundle, max_pending=2, on_drop=lambda *drop: dropped.append(drop))
    writer.record_fragment(result(0))
    assert bundle.writing.wait(10)  # record 0 is being written (held); two more fit in the queue
    for sequence in range(1, 6):
        writer.record_fragment(result(sequence))
    assert dropped == [(3, 1), (4, 2), (5, 3)] and writer.dropped == 3
    bundle.gate.set()
    writer.close({"fragments": 6})
    assert records(bundle) == [0, 1, 2]
    summary = json.loads((bundle.path / "manifest.json").read_text())["summary"]
    assert summary == {"fragments": 6, "recordsDropped": 3}


def test_write_errors_reach_the_owner_and_the_writer_goes_on(tmp_path: Path) -> None:
    class FlakyDisk(RunBundle):
        def record_fragment(self, result, input_audio=None, output_audio=None) -> None:
            if result.sequence == 1:
                raise OSError("No space left on device")
            super().record_fragment(result, input_audio, output_audio)

    bundle = FlakyDisk(tmp_path, "cam1", "run-1")
    errors: list[tuple[str, int]] = []
    writer = BundleWriter(bundle, on_error=lambda exc, sequence: errors.append((str(exc), sequence)))
    for sequence in range(3):
        writer.record_fragment(result(sequence))
    writer.close({})
    assert errors == [("No space left on device", 1)]
    assert records(bundle) == [0, 2]


def test_captured_audio_is_copied_so_the_caller_may_reuse_its_buffers(tmp_path: Path) -> None:
    bundle = GatedBundle(tmp_path, "cam1", "run-1", capture_audio=True)
    writer = BundleWriter(bundle)
    samples = np.full((4800, 2), 1000, dtype=np.int16)
    writer.record_fragment(result(0), samples, samples)
    assert bundle.writing.wait(10)
    samples[:] = 0  # the caller's buffer changes while the disk is held
    bundle.gate.set()
    writer.close({})
    wav = (bundle.path / "fragments" / "000000.in.wav").read_bytes()
    assert np.frombuffer(wav[-9600:], dtype=np.int16).min() == 1000
