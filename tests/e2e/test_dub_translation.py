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
from pathlib import Path

import pytest

from tests import asterisk_corpus
from tests.e2e.conftest import media_tools_available
from tests.e2e.file_dub import Dub, dub
from tests.e2e.media_analysis import MUSIC_DIR, SpeechClip, make_speech_clip
from tests.e2e.text_metrics import chrf
from tests.require import missing, require, requires

pytestmark = [pytest.mark.e2e, requires(media_tools_available(), "ffmpeg/ffprobe not installed")]

MUSIC = "macroform-cold_day.wav"
CUE_EARLY_S = 0.5  # a cue may start this much before the speech the VAD cut it from


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
