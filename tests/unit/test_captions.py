"""Captions from the output blocks: one cue per dubbed segment, where its voice plays; WebVTT and SubRip."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livedub.core.captions import CaptionText, CaptionTrack, Cue, to_srt, to_webvtt, write_captions
from livedub.core.messages import (
    AudioFragment,
    FragmentResult,
    FragmentStatus,
    FragmentTiming,
    OutputBlock,
)

S = 1_000_000_000


def block(sequence: int, status: FragmentStatus, segment: str | None = None, *, text: str | None = None,
          voice: tuple[int, int] | None = None, seconds: float = 1.5) -> OutputBlock:
    start = round(sequence * 1.5 * S)
    duration = round(seconds * S)
    samples = np.zeros((round(seconds * 48_000), 2), np.int16)
    fragment = AudioFragment(f"f{sequence}", "cam", sequence, start, duration, samples)
    result = FragmentResult(fragment.id, sequence, start, duration, status, FragmentTiming(0, 0),
                            transcript=f"en: {text}" if text else None, translation=text, segment_id=segment,
                            voice_span_ns=voice)
    return OutputBlock(sequence, samples, result, fragment)


def track(blocks: list[OutputBlock], text: CaptionText = CaptionText.translation) -> list[Cue]:
    captions = CaptionTrack(text)
    for b in blocks:
        captions.add(b)
    return captions.cues


def test_a_cue_is_where_the_segments_voice_plays_on_the_written_files_timeline() -> None:
    cues = track([block(0, FragmentStatus.no_speech),
                  block(1, FragmentStatus.dubbed, "s1", text="Hola a todos.", voice=(S // 5, 2 * S)),
                  block(2, FragmentStatus.dubbed, "s1"),
                  block(3, FragmentStatus.no_speech)])
    # the file starts at the first block: 1.5 s in, plus where the voice starts inside the segment
    assert cues == [Cue(1_700_000_000, 3_500_000_000, "Hola a todos.")]


def test_without_a_voice_span_the_cue_covers_the_segments_fragments() -> None:
    cues = track([block(0, FragmentStatus.dubbed, "s0", text="Uno."), block(1, FragmentStatus.dubbed, "s0"),
                  block(2, FragmentStatus.dubbed, "s1", text="Dos.")])
    assert cues == [Cue(0, 3 * S, "Uno."), Cue(3 * S, round(4.5 * S), "Dos.")]


def test_a_segment_that_fell_back_has_no_cue_and_the_transcript_is_its_own_track() -> None:
    blocks = [block(0, FragmentStatus.fallback, "s0"), block(1, FragmentStatus.dubbed, "s1", text="Sí.")]
    assert [c.text for c in track(blocks)] == ["Sí."]
    assert [c.text for c in track(blocks, CaptionText.transcript)] == ["en: Sí."]


def test_webvtt_and_srt_render_the_same_cues(tmp_path: Path) -> None:
    cues = [Cue(1_700_000_000, 3_500_000_000, "Hola <a> todos & " + "palabra " * 8), Cue(3_723_004_000_000, 3_723_005_000_000, "Fin.")]
    vtt = to_webvtt(cues)
    assert vtt.startswith("WEBVTT\n\n1\n00:00:01.700 --> 00:00:03.500\nHola &lt;a&gt; todos &amp; palabra")
    assert "\n2\n01:02:03.004 --> 01:02:03.005\nFin.\n" in vtt
    srt = to_srt(cues)
    assert srt.startswith("1\n00:00:01,700 --> 00:00:03,500\nHola <a> todos & palabra")
    assert all(len(line) <= 42 for line in srt.splitlines())
    written = write_captions(tmp_path / "show.mp4", "es", cues)
    assert [p.name for p in written] == ["show.es.vtt", "show.es.srt"]
    assert written[0].read_text(encoding="utf-8") == vtt


def test_a_runs_caption_languages_come_from_its_manifest_and_auto_is_unknown() -> None:
    from livedub.core.captions import caption_languages

    assert caption_languages({"targetLang": "es", "sourceLang": "en"}) == {
        CaptionText.translation: "es", CaptionText.transcript: "en"}
    assert caption_languages({"targetLang": "es", "sourceLang": "auto"})[CaptionText.transcript] is None
    assert caption_languages({}) == {CaptionText.translation: None, CaptionText.transcript: None}
