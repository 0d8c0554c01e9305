"""Running `livedub dub` as a user does and reading the captions it writes (the translation-quality
test and bench/dub_quality.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.media_analysis import SpeechClip

CUE = re.compile(r"^(\d+):(\d\d):(\d\d)[.,](\d{3}) --> (\d+):(\d\d):(\d\d)[.,](\d{3})$")


@dataclass(frozen=True)
class Caption:
    start_s: float
    end_s: float
    text: str


def read_cues(path: Path) -> list[Caption]:
    cues: list[Caption] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        found = CUE.match(line.strip())
        if not found:
            continue
        h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(x) for x in found.groups())
        text = []
        for following in lines[index + 1:]:
            if not following.strip():
                break
            text.append(following.strip())
        unescaped = " ".join(text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        cues.append(Caption(h1 * 3600 + m1 * 60 + s1 + ms1 / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000, unescaped))
    return cues


@dataclass(frozen=True)
class Dub:
    output: Path
    summary: str
    spanish: list[Caption]
    english: list[Caption]


def dub(clip: SpeechClip, output: Path, *extra: str, env_extra: dict[str, str] | None = None) -> Dub:
    """``livedub dub CLIP -o OUTPUT EXTRA...`` en->es (``env_extra``: more settings); fails unless it
    wrote the dub and both caption tracks, the SubRip saying what the WebVTT says."""
    env = {**os.environ, "LOG_FORMAT": "console", "WORKER_SOURCE_LANG": "en", "WORKER_TARGET_LANG": "es",
           **(env_extra or {})}
    env.pop("WORKER_MT", None)
    result = subprocess.run([sys.executable, "-m", "livedub.cli.main", "dub", str(clip.path), "-o", str(output),
                             *extra], capture_output=True, text=True, timeout=600, env=env, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    base = output.with_suffix("")
    for suffix in ("es.vtt", "es.srt", "en.vtt", "en.srt"):
        assert Path(f"{base}.{suffix}").is_file(), f"{base}.{suffix} was not written"
    assert Path(f"{base}.es.vtt").read_text(encoding="utf-8").startswith("WEBVTT\n")
    spanish = read_cues(Path(f"{base}.es.vtt"))
    assert [(c.start_s, c.end_s, c.text) for c in read_cues(Path(f"{base}.es.srt"))] == \
        [(c.start_s, c.end_s, c.text) for c in spanish], "the SubRip file says something else than the WebVTT"
    return Dub(output, result.stderr, spanish, read_cues(Path(f"{base}.en.vtt")))
