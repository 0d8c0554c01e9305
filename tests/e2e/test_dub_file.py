"""`livedub dub` on a real media file: video copied untouched, audio replaced, durations kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.e2e


def _make_clip(path: Path, seconds: float = 6.0) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=1000:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-ac", "2", "-ar", "48000", str(path)],
        check=True, timeout=60)


def _video_packets(path: Path) -> list[str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts,size", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return out.split()


def _audio(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", "48000",
                          "-f", "s16le", "-"], capture_output=True, timeout=60, check=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def _dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * 48000 / len(samples))


def test_dub_mock_replaces_audio_and_copies_video(tmp_path: Path) -> None:
    source, output = tmp_path / "in.mp4", tmp_path / "out.mp4"
    _make_clip(source)
    env_clean = {"PATH": "/usr/bin:/bin", "LIVEDUB_DATA_DIR": str(tmp_path / "var"), "LOG_FORMAT": "console"}
    result = subprocess.run([sys.executable, "-m", "livedub.cli.main", "dub", str(source), "-o", str(output),
                             "--sts-mode", "mock"], capture_output=True, text=True, timeout=120, env=env_clean, check=False)
    assert result.returncode == 0, result.stderr
    assert "fragments" in result.stderr
    # video: the same H.264 packets, byte sizes and timestamps (copied, never re-encoded)
    assert _video_packets(output) == _video_packets(source)
    before, after = _audio(source), _audio(output)
    assert abs(len(after) - len(before)) < 48000 * 0.05  # same duration within 50 ms
    # the 1 kHz input tone is gone from the middle of the file; the mock dub (a 440-770 Hz tone) is there
    middle = after[len(after) // 2 - 24000 : len(after) // 2 + 24000]
    assert 400 < _dominant_hz(middle) < 800
    assert float(np.sqrt(np.mean(middle**2))) > 0.05


def test_dub_rejects_a_file_without_audio(tmp_path: Path) -> None:
    source = tmp_path / "silent.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=160x120:rate=25:duration=1", "-c:v", "libx264", "-preset", "ultrafast",
                    str(source)], check=True, timeout=60)
    result = subprocess.run([sys.executable, "-m", "livedub.cli.main", "dub", str(source), "-o",
                             str(tmp_path / "o.mp4"), "--sts-mode", "mock"],
                            capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}, check=False)
    assert result.returncode == 1
    assert "no audio track" in result.stderr
