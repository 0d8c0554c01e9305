"""`livedub dub` on real English speech: the llm translator beats Apertium against human Spanish, and
the dub's captions (translation and transcript, WebVTT and SubRip) sit where the speech is.

The clip: nine Asterisk prompts (tests/asterisk_corpus.py: human transcripts and the Asterisk
translators' Spanish for the same recordings) with music-only gaps, over music at -14 dB. It is
dubbed twice, as a user would: ``livedub dub IN -o OUT`` (the default translator for files: llm when
installed) and ``livedub dub IN -o OUT --translator apertium``. What each dub says is read from its
``OUT.es.vtt``; chrF against the human Spanish, accents folded on both sides (the references mostly
omit them). Measured on 2 cores: docs/benchmarks.md, "Translation quality".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import asterisk_corpus
from tests.e2e.conftest import media_tools_available
from tests.e2e.media_analysis import MUSIC_DIR, SpeechClip, make_speech_clip
from tests.e2e.text_metrics import chrf
from tests.require import missing, require, requires

pytestmark = [pytest.mark.e2e, requires(media_tools_available(), "ffmpeg/ffprobe not installed")]

MUSIC = "macroform-cold_day.wav"
CUE = re.compile(r"^(\d+):(\d\d):(\d\d)[.,](\d{3}) --> (\d+):(\d\d):(\d\d)[.,](\d{3})$")
CUE_EARLY_S = 0.5  # a cue may start this much before the speech the VAD cut it from


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


def dub(clip: SpeechClip, output: Path, *extra: str) -> Dub:
    env = {**os.environ, "LOG_FORMAT": "console", "WORKER_SOURCE_LANG": "en", "WORKER_TARGET_LANG": "es"}
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


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> SpeechClip:
    why = asterisk_corpus.available()
    if why:
        missing(why)
    if not (MUSIC_DIR / MUSIC).exists():
        missing(f"{MUSIC_DIR / MUSIC} missing: apt-get install asterisk-moh-opsound-wav")
    return make_speech_clip(tmp_path_factory.mktemp("quality") / "speech.flv", asterisk_corpus.prompts(), music=MUSIC)


@pytest.fixture(scope="module")
def dubs(clip: SpeechClip, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Dub]:
    from livedub.sts.registry import Stage, spec

    require(spec(Stage.mt, "llm").availability().ok, "the llm translator is not installed (./scripts/install.sh --llm)")
    out = tmp_path_factory.mktemp("dubs")
    return {"llm": dub(clip, out / "llm.mp4"), "apertium": dub(clip, out / "apertium.mp4", "--translator", "apertium")}


def test_files_are_translated_by_the_llm_by_default_and_it_beats_apertium(
        clip: SpeechClip, dubs: dict[str, Dub], tmp_path: Path) -> None:
    assert "translator llm" in dubs["llm"].summary
    assert "translator apertium" in dubs["apertium"].summary
    reference = asterisk_corpus.fold(" ".join(p.spanish for p in clip.prompts))
    said = {name: " ".join(c.text for c in run.spanish) for name, run in dubs.items()}
    scores = {name: round(chrf(asterisk_corpus.fold(text), reference), 1) for name, text in said.items()}
    heard = " ".join(c.text for c in dubs["llm"].english)
    report = {"chrF": scores, "said": said, "transcript": heard,
              "transcriptChrF": round(chrf(heard, " ".join(p.english for p in clip.prompts)), 1)}
    (tmp_path / "translation_quality.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps(report, indent=2, ensure_ascii=False))
    assert scores["llm"] > scores["apertium"], report
    # the captions carry what Whisper heard, close to what the speaker said
    assert report["transcriptChrF"] >= 60, report


def test_each_caption_cue_sits_on_the_speech_it_translates(clip: SpeechClip, dubs: dict[str, Dub]) -> None:
    for name, run in dubs.items():
        for track in (run.spanish, run.english):
            assert track, f"{name}: no cues"
            covered = set()
            for cue in track:
                assert cue.end_s > cue.start_s, cue
                spans = [i for i, (lo, hi) in enumerate(clip.speech_spans) if lo - CUE_EARLY_S <= cue.start_s < hi]
                assert spans, f"{name}: cue {cue} starts outside every speech span {clip.speech_spans}"
                covered.update(spans)
            # every prompt spoken is captioned (a prompt may be cut into several cues)
            assert covered == set(range(len(clip.speech_spans))), (name, sorted(covered))
