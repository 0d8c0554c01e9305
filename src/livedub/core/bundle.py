"""The run bundle: ``<root>/streams/<id>/runs/<runId>/`` with ``manifest.json`` and one JSON per fragment;
when the run ends, its captions: ``captions.<target>.vtt``/``.srt`` (what the dub said) and
``captions.<source>.vtt``/``.srt`` (what the speaker said), timed from the run's first output.

Every file is written atomically (temp file in the same directory, then rename), so a reader never
sees half a file. Values pass through :func:`scrub`: keys that look like secrets are dropped and URLs
are redacted, so no stream key reaches a bundle. Audio capture (WAV per fragment) is opt-in
(``LIVEDUB_DEBUG_ARTIFACTS``). :func:`purge_runs` applies retention by count and age.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import time
import uuid
import wave
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from livedub.config.settings import RUN_ID_PATTERN, STREAM_ID_PATTERN
from livedub.core.captions import CaptionText, CaptionTrack, caption_languages, write_captions
from livedub.core.messages import SAMPLE_RATE, FragmentResult
from livedub.files import atomic_write
from livedub.obs.redact import redact_text

_SECRET_KEY = re.compile(r"(url|uri|key|secret|token|password|passwd|credential)", re.IGNORECASE)
MANIFEST = "manifest.json"


def new_run_id(now_s: float | None = None) -> str:
    """Sortable and unique: ``20250101T120000Z-1a2b3c``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now_s is None else now_s))
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def runs_dir(root: Path, stream_id: str) -> Path:
    if not re.fullmatch(STREAM_ID_PATTERN, stream_id):
        raise ValueError(f"invalid stream id {stream_id!r}")
    return root / "streams" / stream_id / "runs"


def scrub(value: Any) -> Any:
    """JSON-ready copy of ``value`` without secrets: secret-looking keys dropped, URLs redacted."""
    if isinstance(value, Mapping):
        return {str(k): scrub(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if hasattr(value, "get_secret_value"):  # pydantic SecretStr
        return None
    return redact_text(str(value))


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write(path, json.dumps(scrub(value), indent=2, ensure_ascii=False).encode() + b"\n")


def wav_bytes(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """int16 (n, c) -> a WAV file's bytes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(samples.shape[1] if samples.ndim == 2 else 1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return buffer.getvalue()


class RunBundle:
    def __init__(
        self,
        root: Path,
        stream_id: str,
        run_id: str,
        *,
        capture_audio: bool = False,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not re.fullmatch(RUN_ID_PATTERN, run_id):
            raise ValueError(f"invalid run id {run_id!r}")
        self.stream_id = stream_id
        self.run_id = run_id
        self.path = runs_dir(root, stream_id) / run_id
        self.capture_audio = capture_audio
        self._wall = wall_clock
        self._manifest: dict[str, Any] = {}
        self._captions = {text: CaptionTrack(text) for text in CaptionText}
        (self.path / "fragments").mkdir(parents=True, exist_ok=True)

    def start(self, info: Mapping[str, Any]) -> None:
        """Write the manifest: ``info`` is the run's (non-secret) configuration and versions."""
        self._manifest = {
            "streamId": self.stream_id,
            "runId": self.run_id,
            "status": "running",
            "startedAt": _iso(self._wall()),
            "audioCapture": self.capture_audio,
            **dict(info),
        }
        atomic_write_json(self.path / MANIFEST, self._manifest)

    def record_fragment(self, result: FragmentResult, input_audio: np.ndarray | None = None,
                        output_audio: np.ndarray | None = None) -> None:
        base = self.path / "fragments" / f"{result.sequence:06d}"
        atomic_write_json(base.with_suffix(".json"), result.to_json())
        for track in self._captions.values():
            track.add_result(result, result.start_pts, result.duration)
        if self.capture_audio:
            if input_audio is not None:
                atomic_write(base.with_suffix(".in.wav"), wav_bytes(input_audio))
            if output_audio is not None:
                atomic_write(base.with_suffix(".out.wav"), wav_bytes(output_audio))

    def close(self, summary: Mapping[str, Any]) -> None:
        self._manifest.update({"status": "finished", "endedAt": _iso(self._wall()), "summary": dict(summary)})
        self._manifest["captions"] = self._write_captions()
        atomic_write_json(self.path / MANIFEST, self._manifest)

    def _write_captions(self) -> list[str]:
        """The caption files of the tracks that have cues (none in bypass, or when nothing was dubbed)."""
        known = caption_languages(self._manifest)
        target = known[CaptionText.translation] or "target"
        source = known[CaptionText.transcript]
        names = {CaptionText.translation: target,
                 CaptionText.transcript: source if source not in (None, target) else "source"}  # never one name twice
        written: list[str] = []
        for text, track in self._captions.items():
            if track.cues:
                written += [p.name for p in write_captions(self.path / "captions", names[text], track.cues)]
        return written


def purge_runs(directory: Path, *, keep: int, max_age_s: float, now_s: float | None = None,
               protect: Collection[str] = ()) -> list[str]:
    """Delete runs beyond the ``keep`` newest and runs older than ``max_age_s``; never ``protect``ed ones.

    Age is the manifest's modification time (the run's last write). Returns the names removed.
    """
    if not directory.is_dir():
        return []
    now_s = time.time() if now_s is None else now_s
    runs = sorted((d for d in directory.iterdir() if d.is_dir()), key=_last_write, reverse=True)
    removed: list[str] = []
    for index, run in enumerate(runs):
        if run.name in protect:
            continue
        if index >= keep or now_s - _last_write(run) > max_age_s:
            shutil.rmtree(run)
            removed.append(run.name)
    return removed


def _last_write(run: Path) -> float:
    manifest = run / MANIFEST
    return (manifest if manifest.exists() else run).stat().st_mtime


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
