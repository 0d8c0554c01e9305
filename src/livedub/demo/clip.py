"""Build the demo clip from packaged, redistributable material (no download, nothing committed).

Speech: Allison Smith's prompts from Debian ``asterisk-core-sounds-en-wav`` (CC-BY-SA-3.0).
Music:  ``asterisk-moh-opsound-wav`` (CC-BY-SA-3.0).
Video:  ffmpeg's ``testsrc2`` pattern with a running clock, so frozen or skipped frames show.
Output: H.264 + AAC (48 kHz stereo) in MP4, the codecs livedub accepts.
"""

from __future__ import annotations

import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

SPEECH_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
MUSIC_FILE = Path("/usr/share/asterisk/moh/manolo_camp-morning_coffee.wav")
SAMPLES_FIX = "./scripts/install.sh --demo   (Debian packages asterisk-core-sounds-en-wav, asterisk-moh-opsound-wav)"

# What the speaker says, in order, with the English text (used as the reference transcript).
PROMPTS: tuple[tuple[str, str], ...] = (
    ("hello-world", "Hello world."),
    ("queue-periodic-announce", ("All of our representatives are currently busy. Please stay on the line "
                                 "and your call will be answered by the next available representative.")),
    ("queue-thankyou", "Thank you for your patience."),
    ("please-try-call-later", "Please try your call again later."),
    ("goodbye", "Goodbye."),
)
GAP_SECONDS = 1.0
# music before the first words: a live worker joins at the first keyframe after it has started
# (models loaded), a few seconds into the stream, so the opening words must not come sooner
LEAD_IN_SECONDS = 6.0
# part of the file name: a changed recipe builds a new clip instead of reusing a stale one
CLIP_VERSION = 2


class ClipError(RuntimeError):
    pass


@dataclass(frozen=True)
class DemoClip:
    path: Path
    duration: float
    transcript: str
    credits: str = ("Speech: Allison Smith (asterisk-core-sounds, CC-BY-SA-3.0); "
                    "music: asterisk-moh-opsound (CC-BY-SA-3.0)")


def _missing() -> list[Path]:
    wanted = [SPEECH_DIR / f"{name}.wav" for name, _ in PROMPTS] + [MUSIC_FILE]
    return [p for p in wanted if not p.exists()]


def clip_path(directory: Path) -> Path:
    return directory / f"input-v{CLIP_VERSION}.mp4"


def build_demo_clip(out: Path, *, width: int = 640, height: int = 360, fps: int = 25,
                    music_gain_db: float = -14.0, timeout: float = 120.0) -> DemoClip:
    """Write the clip to ``out`` (reused when it already exists) and describe it."""
    missing = _missing()
    if missing:
        raise ClipError(f"demo material missing ({missing[0]}); install it with: {SAMPLES_FIX}")
    transcript = " ".join(text for _, text in PROMPTS)
    inputs: list[str] = []
    parts: list[str] = []
    for index, (name, _) in enumerate(PROMPTS):
        inputs += ["-i", str(SPEECH_DIR / f"{name}.wav")]
        parts.append(f"[{index}:a]aresample=48000,apad=pad_dur={GAP_SECONDS}[s{index}]")
    n = len(PROMPTS)
    total = LEAD_IN_SECONDS + sum(_wav_seconds(SPEECH_DIR / f"{name}.wav") + GAP_SECONDS for name, _ in PROMPTS)
    speech = "".join(f"[s{i}]" for i in range(n))
    filters = ";".join(parts) + (
        f";{speech}concat=n={n}:v=0:a=1,adelay={int(LEAD_IN_SECONDS * 1000)}:all=1,"
        "aformat=channel_layouts=mono[speech]"
        f";[{n}:a]aresample=48000,volume={music_gain_db}dB,aformat=channel_layouts=mono[music]"
        ";[speech][music]amix=inputs=2:duration=first:normalize=0,pan=stereo|c0=c0|c1=c0,"
        "aresample=48000[aout]"
        f";[{n + 1}:v]drawtext=text='livedub demo %{{pts\\:hms}}':x=20:y=20:fontsize=24:"
        "fontcolor=white:box=1:boxcolor=black@0.6[vout]"
    )
    if out.exists() and out.stat().st_size > 0:
        return DemoClip(out, _probe_duration(out), transcript)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.mp4")
    command = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *inputs,
        "-stream_loop", "-1", "-i", str(MUSIC_FILE),
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={total:.3f}",
        "-filter_complex", filters, "-map", "[vout]", "-map", "[aout]", "-t", f"{total:.3f}",
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", str(fps * 2),
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
        "-movflags", "+faststart", str(tmp),
    ]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout)
    except subprocess.CalledProcessError as exc:
        tmp.unlink(missing_ok=True)
        raise ClipError(f"ffmpeg could not build the demo clip: {exc.stderr.strip()[-400:]}") from None
    tmp.replace(out)
    return DemoClip(out, _probe_duration(out), transcript)


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())


def _probe_duration(path: Path) -> float:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", str(path)],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return float(result.stdout.strip())
