"""What a viewer of the recorded output gets: decodable video, audio present, durations, A/V offset."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class StreamReport:
    video_codec: str | None
    audio_codec: str | None
    video_seconds: float
    audio_seconds: float
    video_frames: int
    decode_errors: int
    av_start_offset_ms: float  # audio start - video start

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _probe(path: Path) -> dict:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,start_time,duration,nb_frames",
         "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def _decode(path: Path) -> tuple[int, int, float, float]:
    """Decode every frame: (video frames, decode errors, video seconds, audio seconds)."""
    result = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
         "-map", "0:v:0?", "-map", "0:a:0?", "-f", "framemd5", "-"],
        capture_output=True, text=True, timeout=300, check=False)
    errors = len([line for line in result.stderr.splitlines() if line.strip()])
    video_frames = 0
    ends: dict[str, float] = {"0": 0.0, "1": 0.0}
    time_base: dict[str, float] = {}
    for line in result.stdout.splitlines():
        if line.startswith("#tb"):
            index, value = line.split(":", 1)[0].split()[1], line.split(":", 1)[1].strip()
            num, den = value.split("/")
            time_base[index] = int(num) / int(den)
            continue
        if line.startswith("#") or not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        stream, pts, duration = fields[0], int(fields[2]), int(fields[3])
        tb = time_base.get(stream, 0.0)
        ends[stream] = max(ends.get(stream, 0.0), (pts + duration) * tb)
        if stream == "0":
            video_frames += 1
    return video_frames, errors, ends.get("0", 0.0), ends.get("1", 0.0)


def analyse(path: Path) -> StreamReport:
    info = _probe(path)
    video = next((s for s in info.get("streams", []) if s.get("codec_type") == "video"), {})
    audio = next((s for s in info.get("streams", []) if s.get("codec_type") == "audio"), {})
    frames, errors, video_end, audio_end = _decode(path)
    v_start = float(video.get("start_time") or 0.0)
    a_start = float(audio.get("start_time") or 0.0)
    return StreamReport(
        video_codec=video.get("codec_name"), audio_codec=audio.get("codec_name"),
        video_seconds=round(video_end - v_start, 3) if video else 0.0,
        audio_seconds=round(audio_end - a_start, 3) if audio else 0.0,
        video_frames=frames, decode_errors=errors,
        av_start_offset_ms=round((a_start - v_start) * 1000.0, 1) if video and audio else 0.0,
    )
