"""Speech segments: the segmenter's rules, the quality ladder, and the core dubbing a segment once and
laying it over its fragments (and its run-on over the non-speech after it), on a fake clock."""

from __future__ import annotations

import numpy as np
import pytest

from livedub.core.config import FragmenterConfig
from livedub.core.messages import AudioFragment, DubbedAudio, FragmentStatus
from livedub.core.processor import StsError
from livedub.core.quality import LadderConfig, QualityLadder, Step
from livedub.core.segmenter import Segmenter, SegmenterConfig
from livedub.core.window import InflightWindow  # noqa: F401 - the window is exercised through the core
from tests.unit.core.helpers import MS, SECOND, make_rig

RATE = 48_000


def frag(sequence: int, start_s: float, seconds: float, speech_s: float | None, pause_s: float = 0.0) -> AudioFragment:
    n = round(seconds * RATE)
    return AudioFragment(id=f"f{sequence}", stream_id="t", sequence=sequence, start_pts=round(start_s * SECOND),
                         duration=round(seconds * SECOND), samples=np.zeros((n, 2), np.int16),
                         speech_ns=None if speech_s is None else round(speech_s * SECOND),
                         trailing_pause_ns=round(pause_s * SECOND))


CONFIG = SegmenterConfig(max_ns=round(3.5 * SECOND), pause_ns=300 * MS, min_speech_ns=100 * MS,
                         spill_ns=SECOND, fragment_max_ns=2 * SECOND, fragment_target_ns=round(1.5 * SECOND))


def test_fragments_of_one_utterance_form_one_segment_closed_by_its_pause() -> None:
    segmenter = Segmenter(CONFIG)
    assert segmenter.push(frag(0, 0.0, 1.0, 0.9)) == []  # 1.0 + 2.0 <= 3.5: it may grow
    units = segmenter.push(frag(1, 1.0, 1.2, 0.8, pause_s=0.4))  # ends in a pause: the utterance ended
    assert len(units) == 1
    segment = units[0]
    assert [f.id for f in segment.fragments] == ["f0", "f1"]
    assert segment.start_pts == 0 and segment.duration == round(2.2 * SECOND)
    assert segment.num_samples == round(2.2 * RATE) and segment.spill_ns == SECOND


def test_a_segment_closes_before_a_typical_fragment_would_take_it_past_its_maximum() -> None:
    segmenter = Segmenter(CONFIG)
    assert segmenter.push(frag(0, 0.0, 1.9, 1.9)) == []  # 1.9 + 1.5 <= 3.5
    (segment,) = segmenter.push(frag(1, 1.9, 2.0, 2.0))  # 3.9 + 1.5 would pass 3.5
    assert segment.duration <= CONFIG.longest_ns == round(4.0 * SECOND)
    assert segment.spill_ns == 0  # speech goes on: no room to spill


def test_non_speech_closes_the_open_segment_and_needs_no_segment_itself() -> None:
    segmenter = Segmenter(CONFIG)
    segmenter.push(frag(0, 0.0, 1.0, 0.9))
    units = segmenter.push(frag(1, 1.0, 1.5, 0.05))  # music: less than min_speech voiced
    assert [type(u).__name__ for u in units] == ["SpeechSegment", "AudioFragment"]
    assert units[0].spill_ns == SECOND and units[1].id == "f1"
    assert segmenter.open_fragments == ()


def test_a_timestamp_jump_and_the_end_close_the_segment_without_spill() -> None:
    segmenter = Segmenter(CONFIG)
    segmenter.push(frag(0, 0.0, 1.0, 0.9))
    (before_jump,) = segmenter.push(frag(1, 9.0, 1.0, 0.9))
    assert [f.id for f in before_jump.fragments] == ["f0"] and before_jump.spill_ns == 0
    (last,) = segmenter.flush()
    assert [f.id for f in last.fragments] == ["f1"] and last.spill_ns == 0
    assert segmenter.flush() == []


def test_ladder_starts_on_the_cheapest_rung_steps_up_with_room_and_down_when_late() -> None:
    ladder = QualityLadder(("natural", "fast", "fastest"),
                           LadderConfig(up_after=2, up_margin_ns=SECOND // 2, down_slack_ns=SECOND // 4))
    assert ladder.rung == "fastest"
    seg = 2 * SECOND
    # 0.4 s of STS per 2 s segment: the unmeasured better rung is guessed at twice that (+0.4 s)
    assert ladder.observe(3 * SECOND, 400 * MS, seg) is None
    step = ladder.observe(3 * SECOND, 400 * MS, seg)
    assert step is not None and (step.step, step.old, step.new) == (Step.up, "fastest", "fast")
    # "fast" costs 1.0 s per segment: a guessed "natural" (+1.0 s) leaves 0.5 s of 1.5: not enough
    assert [ladder.observe(1400 * MS, SECOND, seg) for _ in range(4)] == [None] * 4
    assert ladder.rung == "fast"
    # with more room it is tried, and when it comes back late it steps down
    assert ladder.observe(3 * SECOND, SECOND, seg) is None
    assert ladder.observe(3 * SECOND, SECOND, seg).new == "natural"
    down = ladder.observe(100 * MS, 2900 * MS, seg)
    assert down is not None and (down.step, down.new) == (Step.down, "fast")
    # now "natural" is measured (2.9 s): 2.2 s of slack is not room for +1.9 s and a 0.5 s margin
    assert [ladder.observe(2200 * MS, SECOND, seg) for _ in range(6)] == [None] * 6
    # a late result of a segment voiced on a rung it already left does not step again
    assert ladder.observe(None, rung="natural") is None and ladder.rung == "fast"
    assert ladder.observe(None).new == "fastest"  # a timeout on the current rung steps down


def test_segments_where_nothing_was_voiced_are_no_evidence_of_room_for_a_better_rung() -> None:
    # seen in the demo: two music-only segments (30-90 ms of STS) and one sentence stepped up to a rung
    # the next sentence could not afford
    ladder = QualityLadder(("natural", "fast", "fastest"), LadderConfig(up_after=2))
    seg = 2 * SECOND
    assert ladder.observe(3 * SECOND, 400 * MS, seg) is None  # a voiced segment with room
    assert [ladder.observe(3 * SECOND, 50 * MS, seg, voiced=False) for _ in range(5)] == [None] * 5
    assert ladder.rung == "fastest" and ladder.expected_extra_ns(seg) == 400 * MS  # its cost estimate unchanged
    step = ladder.observe(3 * SECOND, 400 * MS, seg)  # the second voiced one in a row
    assert step is not None and step.new == "fast"
    # one that timed out still steps down, voiced or not
    assert ladder.observe(None, voiced=False).new == "fastest"


def test_a_segment_the_current_rung_cannot_voice_in_time_gets_a_cheaper_one_without_moving_the_ladder() -> None:
    ladder = QualityLadder(("natural", "fast", "fastest"),
                           LadderConfig(up_after=1, up_margin_ns=0, down_slack_ns=SECOND // 4, up_uncertainty=0.5))
    assert ladder.rung_for(10 * SECOND, SECOND) == "fastest"  # nothing cheaper than the bottom rung
    ladder.observe(10 * SECOND, 100 * MS, SECOND)  # fastest: 0.1 s per s of audio; room: up to fast
    ladder.observe(SECOND, 700 * MS, SECOND)  # fast: 0.7 s per s; 1 s of slack is no room for natural
    assert ladder.rung == "fast"
    # fast for 2 s of audio: 1.4 s, +50 % +0.25 s = 2.35 s
    assert ladder.rung_for(2 * SECOND, 2400 * MS) == "fast"
    assert ladder.rung_for(2 * SECOND, 2300 * MS) == "fastest"  # e.g. it waited for a slot
    assert ladder.rung == "fast"
    ladder.observe(10 * SECOND, 700 * MS, SECOND)
    assert ladder.rung == "natural"  # not measured yet: it is tried whatever the budget
    assert ladder.rung_for(2 * SECOND, 100 * MS) == "natural"
    fixed = QualityLadder(("natural", "fast"), LadderConfig(mode="natural"))
    fixed.observe(SECOND, 5 * SECOND, SECOND)
    assert fixed.rung_for(SECOND, 1) == "natural"  # WORKER_QUALITY fixes it


def test_a_fixed_rung_never_moves_and_an_unknown_one_is_refused() -> None:
    ladder = QualityLadder(("natural", "fast"), LadderConfig(mode="natural"))
    assert ladder.rung == "natural" and ladder.observe(None) is None and ladder.rung == "natural"
    with pytest.raises(ValueError, match="WORKER_QUALITY=fastest"):
        QualityLadder(("natural", "fast"), LadderConfig(mode="fastest"))


class RecordingSts:
    """Answers each segment with a constant level (so its span is visible) and a run-on of 0.5."""

    quality_rungs = ("natural", "fast")

    def __init__(self, tail_s: float = 0.0) -> None:
        self.calls: list = []
        self.tail_s = tail_s

    def process(self, segment) -> DubbedAudio:
        self.calls.append(segment)
        tail = np.full((round(self.tail_s * RATE), 2), 0.5, np.float32) if self.tail_s else None
        return DubbedAudio(fragment_id=segment.id, sequence=segment.sequence,
                           samples=np.full((segment.num_samples, 2), 0.25, np.float32), tail=tail,
                           transcript="hello there", translation="hola", stage_seconds={"asr": 0.25, "tts": 0.5})


def utterance_then_music(speech_s: float, music_s: float) -> np.ndarray:
    """Word-like bursts (speech to the energy VAD), then steady quiet hum (no speech)."""
    rng = np.random.default_rng(1)
    speech = (rng.standard_normal((round(speech_s * RATE), 2)) * 0.2 * 32767).astype(np.int16)
    period = round(0.4 * RATE)
    for start in range(round(0.32 * RATE), len(speech), period):
        speech[start:start + round(0.05 * RATE)] = 0
    t = np.arange(round(music_s * RATE)) / RATE
    hum = (0.001 * 32767 * np.sin(2 * np.pi * 50 * t)).astype(np.int16)
    return np.concatenate([speech, np.stack([hum, hum], axis=1)])


def feed_answering(rig, seconds: float) -> None:
    """Feed the input in real time with an STS that answers every call at once, then drain."""
    step = 0.1
    t = step
    while t <= seconds + 1e-9:
        rig.feed_until(t)
        for job in rig.executor.pending():
            job.run()
        t += step
    rig.core.flush()
    for job in rig.executor.pending():
        job.run()
    rig.advance_to(seconds + 20.0)


SEGMENTS = SegmenterConfig(max_ns=round(3.5 * SECOND), pause_ns=300 * MS, min_speech_ns=100 * MS, spill_ns=SECOND)
FRAGMENTS = FragmenterConfig()  # 1.5 s target, cut in pauses


def test_one_sts_call_per_segment_laid_over_its_fragments_and_none_for_music() -> None:
    sts = RecordingSts()
    rig = make_rig(sts, utterance_then_music(2.2, 4.0), delay_s=6.0, fragmenter=FRAGMENTS, segmenter=SEGMENTS)
    feed_answering(rig, 7.0)
    blocks = rig.out
    speech = [b for b in blocks if b.result.speech]
    music = [b for b in blocks if not b.result.speech]
    assert len(sts.calls) == 1 and len(sts.calls[0].fragments) == len(speech) >= 2  # one call, several fragments
    assert music and all(b.result.status is FragmentStatus.no_speech for b in music)
    assert all(b.result.status is FragmentStatus.dubbed and b.result.segment_id == sts.calls[0].id for b in speech)
    assert all(np.all(b.samples == round(0.25 * 32767)) for b in speech)  # the segment's dub, sliced per fragment
    assert [b.result.transcript for b in speech] == ["hello there"] + [None] * (len(speech) - 1)
    # the run bundle carries what the segment's STS stages cost, once (on its first fragment)
    assert [b.result.to_json()["stageSeconds"] for b in speech] == [{"asr": 0.25, "tts": 0.5}] + [None] * (len(speech) - 1)
    stats = rig.core.stats()
    assert (stats.segments, stats.segments_dubbed, stats.no_speech) == (1, 1, len(music))
    assert stats.tiers == {"fast": 1}  # auto starts on the cheapest rung
    assert sts.calls[0].tier == "fast"


def test_a_dubs_run_on_plays_over_the_following_non_speech_only() -> None:
    sts = RecordingSts(tail_s=0.5)
    audio = utterance_then_music(2.2, 4.0)
    rig = make_rig(sts, audio, delay_s=6.0, fragmenter=FRAGMENTS, segmenter=SEGMENTS)
    feed_answering(rig, 7.0)
    first_music = next(b for b in rig.out if not b.result.speech)
    head = first_music.samples[: round(0.5 * RATE)].astype(np.float64) / 32767
    original = audio[first_music.input_pts * RATE // SECOND:][: round(0.5 * RATE)].astype(np.float64) / 32767
    np.testing.assert_allclose(head, original + 0.5, atol=2e-3)  # the run-on over the hum
    rest = first_music.samples[round(0.5 * RATE):]
    np.testing.assert_array_equal(rest, audio[first_music.input_pts * RATE // SECOND + round(0.5 * RATE):][
        : len(rest)])  # and then the original alone


def test_a_failed_segment_falls_back_for_every_fragment_and_steps_the_ladder() -> None:
    class Failing(RecordingSts):
        def process(self, segment):
            raise StsError("boom")

    rig = make_rig(Failing(), utterance_then_music(3.0, 1.0), delay_s=6.0, fragmenter=FRAGMENTS, segmenter=SEGMENTS)
    rig.feed_until(4.0)
    rig.core.flush()
    for job in rig.executor.pending():
        job.run()
    rig.advance_to(20.0)
    speech = [b for b in rig.out if b.result.speech]
    assert len(speech) >= 2 and all(b.result.status is FragmentStatus.fallback for b in speech)
    assert rig.metrics.value("worker_speech_segments_total", status="fallback") == 1
    assert rig.metrics.value("worker_fallback_total", reason="sts-error") == len(speech)


def test_segments_with_room_step_the_quality_up_and_it_is_counted() -> None:
    sts = RecordingSts()
    rig = make_rig(sts, utterance_then_music(3.0, 1.0), delay_s=6.0, fragmenter=FRAGMENTS, segmenter=SEGMENTS,
                   quality=LadderConfig(mode="auto", up_after=1, up_margin_ns=SECOND // 2, down_slack_ns=SECOND // 4))
    feed_answering(rig, 4.0)  # every segment done at once: seconds of room
    assert rig.core.quality_tier == "natural"  # stepped up after one roomy segment
    assert rig.metrics.value("worker_quality_steps_total", direction="up", tier="natural") == 1
    assert rig.metrics.value("worker_quality_tier", tier="natural") == 1
    assert rig.metrics.value("worker_quality_tier", tier="fast") == 0
