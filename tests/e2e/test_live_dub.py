"""Live dubbing the way a broadcaster meets it: `livedub up` with real STS, a viewer, a publisher.

About 59 s of real recorded English speech (9 Asterisk prompts, 12 sentences, not the demo clip) over music,
with a white flash every 2 s, is published in real time to ``live/news/in`` while a viewer that
started before the publisher records ``live/news/out``. Then, on what the viewer received:

* every speech span sounds Spanish to Whisper, with no English words left (not always met: see the xfail);
* at least 95 % of the speech segments were dubbed (the worker's run bundle), none by pass-through;
* the music where nobody speaks is as loud as in the input;
* audio and video stay together (the music under the video lines up with the input's within 40 ms);
* the recording ends within 1 s of the input's end (the worker drains its delayed output);
* it starts within 1 s of the input's first frame (MEDIA_INGEST_HOLD, on by default, holds the publisher
  until its worker reads).

Everything runs at the product's defaults for real mode on a CPU (`livedub up` applies them).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from livedub.obs.metrics import free_port
from livedub.proc.child import spawn, terminate, wait_until
from tests.e2e.conftest import RW_TIMEOUT_US, requires_media
from tests.e2e.media_analysis import (
    FFMPEG_TIMEOUT_S,
    MUSIC_DIR,
    NEWSCAST,
    RATE,
    SPEECH_DIR,
    SpeechClip,
    audio_track,
    best_lag_s,
    flash_times,
    make_speech_clip,
    rms_db,
    video_frames,
)
from tests.e2e.text_metrics import words
from tests.listener import reference_whisper
from tests.require import missing

pytestmark = [pytest.mark.e2e, *requires_media]

STREAM = "news"
MUSIC = "macroform-cold_day.wav"
MIN_DUBBED_SHARE = 0.95
MUSIC_TOLERANCE_DB = 3.0
SYNC_TOLERANCE_S = 0.040
EDGE_TOLERANCE_S = 1.0
GAP_S = 2.5  # music between the prompts: longer than the dub's run-on (WORKER_SEGMENT_SPILL) plus margins
VIEWER_PATIENCE_US = "20000000"  # 20 s: more than the delay (5 s) plus the worker's start
SPILL_S = 1.0  # WORKER_SEGMENT_SPILL's default: how far past its segment's last fragment a dub may run on
FADE_S = 0.1  # a dub's fade in and out around where the run bundle says its voice plays


@dataclass
class LiveRun:
    clip: SpeechClip
    recording: Path
    manifest: dict
    fragments: list[dict]
    tmp: Path
    up_log: Path


def _viewer(url: str, out: Path, stop: threading.Event, log: Path) -> None:
    """A player that starts before the stream exists and keeps trying until it gets it (like hls.js or OBS).
    Like ffplay or OBS it waits on a quiet connection for longer than the dub's delay: the embedded nginx
    lets it wait on the output before the worker publishes it, and the first frame comes a delay later."""
    deadline = time.monotonic() + 240
    with log.open("ab") as log_file:
        while not stop.is_set() and time.monotonic() < deadline:
            process = subprocess.run(
                ["ffmpeg", "-hide_banner", "-loglevel", "warning", "-nostdin", "-y", "-rw_timeout", VIEWER_PATIENCE_US,
                 "-i", url, "-c", "copy", "-f", "flv", str(out)],
                stdout=log_file, stderr=log_file, timeout=240, check=False)
            if out.exists() and out.stat().st_size > 10_000:
                return  # it got the stream and the stream ended
            if process.returncode == 0 and out.exists():
                out.unlink()
            stop.wait(0.2)


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> LiveRun:
    absent = [p for p in [*(SPEECH_DIR / f"{x.name}.wav" for x in NEWSCAST), MUSIC_DIR / MUSIC] if not p.exists()]
    if absent:
        missing(f"{absent[0]} missing: apt-get install asterisk-core-sounds-en-wav asterisk-moh-opsound-wav")
    tmp = tmp_path_factory.mktemp("live-dub")
    clip = make_speech_clip(tmp / "news.flv", NEWSCAST, gap_s=GAP_S, music=MUSIC)
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("WORKER_", "ORCH_", "EGRESS_", "MEDIA_", "LOG_", "LIVEDUB_"))}
    rtmp = free_port()
    env = {**keep, "LIVEDUB_DATA_DIR": str(tmp / "var"), "MEDIA_BACKEND": "nginx", "MEDIA_RTMP_PORT": str(rtmp),
           "MEDIA_API_PORT": str(free_port()), "MEDIA_HLS_PORT": str(free_port()), "ORCH_HTTP_ADDR": f"127.0.0.1:{free_port()}",
           "WORKER_STS_MODE": "real", "WORKER_SOURCE_LANG": "en", "WORKER_TARGET_LANG": "es"}
    base = "http://" + env["ORCH_HTTP_ADDR"]
    up_log = tmp / "up.log"
    with up_log.open("wb") as log:
        up = spawn([sys.executable, "-m", "livedub.cli.main", "up", "--no-status"], env=env, stdout=log,
                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    recording = tmp / "viewer.flv"
    stop = threading.Event()
    viewer = threading.Thread(target=_viewer, args=(f"rtmp://127.0.0.1:{rtmp}/live//{STREAM}/out", recording, stop,
                                                    tmp / "viewer.log"), daemon=True)
    try:
        assert wait_until(lambda: _ready(base), 60, abort=lambda: "up exited" if up.poll() is not None else None), (
            up_log.read_text()[-3000:])
        viewer.start()
        publish = subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "warning", "-nostdin", "-re", "-i", str(clip.path),
             "-c", "copy", "-rw_timeout", RW_TIMEOUT_US, "-f", "flv", f"rtmp://127.0.0.1:{rtmp}/live//{STREAM}/in"],
            capture_output=True, timeout=clip.duration_s + 60, check=False)
        assert publish.returncode == 0, publish.stderr[-2000:]
        viewer.join(timeout=60)  # the worker drains its delayed output, then the stream ends for the viewer
        assert not viewer.is_alive(), "the viewer's recording did not end after the publisher left"
    finally:
        stop.set()
        up.send_signal(signal.SIGINT)
        terminate(up, timeout=60)
    runs = sorted((tmp / "var" / "streams" / STREAM / "runs").glob("*/manifest.json"))
    assert runs, up_log.read_text()[-3000:]
    manifest = json.loads(runs[-1].read_text())
    fragments = [json.loads(p.read_text()) for p in sorted((runs[-1].parent / "fragments").glob("*.json"))]
    return LiveRun(clip, recording, manifest, fragments, tmp, up_log)


def _ready(base: str) -> bool:
    """What `livedub up` waits for before it prints its banner: ready, the standby worker's models loaded."""
    try:
        response = httpx.get(base + "/readyz", timeout=1)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json().get("standbyWorkers", {}).get("loading") == 0


@dataclass
class Alignment:
    """Input file time <-> recording time, from the flashes (resolved by the music's loudness)."""

    shift: float  # recording time - input time
    in_start: float
    in_audio: np.ndarray
    out_start: float
    out_audio: np.ndarray
    out_first_frame: float
    out_last_frame: float

    def output(self, lo: float, hi: float) -> np.ndarray:
        return self.out_audio[max(0, round((lo + self.shift - self.out_start) * RATE)):
                              max(0, round((hi + self.shift - self.out_start) * RATE))]

    def input(self, lo: float, hi: float) -> np.ndarray:
        return self.in_audio[max(0, round((lo - self.in_start) * RATE)):max(0, round((hi - self.in_start) * RATE))]


def _loudness(samples: np.ndarray, window: int = RATE // 20) -> np.ndarray:
    usable = len(samples) // window * window
    return 20 * np.log10(np.maximum(np.sqrt(np.mean(samples[:usable].reshape(-1, window) ** 2, axis=1)), 1e-6))


@pytest.fixture(scope="module")
def aligned(live_run: LiveRun) -> Alignment:
    in_frames = video_frames(live_run.clip.path, live_run.tmp)
    out_frames = video_frames(live_run.recording, live_run.tmp)
    assert out_frames, "the viewer received no video"
    in_start, in_audio = audio_track(live_run.clip.path)
    out_start, out_audio = audio_track(live_run.recording)
    first_in, first_out = flash_times(in_frames)[0], flash_times(out_frames)[0]
    # flashes repeat every 2 s: pick the multiple whose music/speech loudness lines up best
    in_loud, out_loud = _loudness(in_audio), _loudness(out_audio)

    def score(shift: float) -> float:
        offset = round((shift - (out_start - in_start)) * 20)
        a, b = (in_loud[max(0, -offset):], out_loud[max(0, offset):])
        n = min(len(a), len(b))
        return float(np.corrcoef(a[:n], b[:n])[0, 1]) if n > 40 else -1.0

    shift = max((first_out - first_in - 2.0 * k for k in range(-4, 5)), key=score)
    times = sorted(f.time for f in out_frames)
    return Alignment(shift, in_start, in_audio, out_start, out_audio, times[0], times[-1])


@pytest.fixture(scope="module")
def whisper():
    """Whisper base on its full window, an independent listener for the output."""
    return reference_whisper()


@pytest.mark.xfail(strict=False, reason="the independent Whisper sometimes takes a short Spanish dub for another "
                   "language (Kokoro's 'Comadrejas...' heard as Greek once), and the translator speaks names and words "
                   "it cannot derive as they were said: docs/worker.md, 'Not done yet / limits'")
def test_whisper_hears_spanish_in_every_speech_span_and_no_english(live_run: LiveRun, aligned: Alignment,
                                                                     whisper) -> None:
    heard = []
    for (lo, hi), prompt in zip(live_run.clip.speech_spans, live_run.clip.prompts, strict=True):
        audio = aligned.output(lo - 0.2, hi + 1.0)  # the dub may run on into the gap after the speech
        result = whisper.transcribe(audio[::3].copy(), language=None)  # 48 -> 16 kHz (AAC is band-limited)
        english = {w for w in words(prompt.english) if len(w) > 3}
        heard.append({"prompt": prompt.name, "language": result.language, "text": result.text,
                      "englishLeft": sorted(english & set(words(result.text)))})
    (live_run.tmp / "heard.json").write_text(json.dumps(heard, indent=2, ensure_ascii=False))
    assert all(h["language"] == "es" and not h["englishLeft"] for h in heard[1:]), heard  # after the first: no gap
    assert all(h["language"] == "es" for h in heard), heard
    assert all(not h["englishLeft"] for h in heard), heard


def test_at_least_95_percent_of_speech_segments_are_dubbed_and_none_by_pass_through(live_run: LiveRun) -> None:
    speech = [f for f in live_run.fragments if f["speech"]]
    segments: dict[str, str] = {}
    for fragment in speech:
        segments.setdefault(fragment["segmentId"], fragment["status"])
    dubbed = sum(status == "dubbed" for status in segments.values())
    report = {"segments": len(segments), "dubbed": dubbed, "summary": live_run.manifest.get("summary"),
              "fallbacks": [(f["sequence"], f["reason"], f["detail"]) for f in speech if f["status"] == "fallback"]}
    assert len(segments) >= 8 and dubbed >= MIN_DUBBED_SHARE * len(segments), report
    assert not any(f["fallback"] == "pass-through" for f in speech), report


def _voice_spans(live_run: LiveRun, aligned: Alignment) -> list[tuple[float, float, float]]:
    """Where each dub's voice plays (the run bundle's ``voiceSpanNs``), in input time, with the end of its
    segment's last fragment: (voice start, voice end, segment end)."""
    first_pts = min(f["startPtsNs"] for f in live_run.fragments)

    def at(pts: int) -> float:
        return (pts - first_pts) / 1e9 + aligned.in_start

    ends: dict[str, int] = {}
    for f in live_run.fragments:
        if f["segmentId"]:
            ends[f["segmentId"]] = max(ends.get(f["segmentId"], 0), f["startPtsNs"] + f["durationNs"])
    return [(at(f["startPtsNs"] + f["voiceSpanNs"][0]), at(f["startPtsNs"] + f["voiceSpanNs"][1]),
             at(ends[f["segmentId"]])) for f in live_run.fragments if f["voiceSpanNs"] and f["segmentId"]]


def _music_spans(live_run: LiveRun, aligned: Alignment) -> list[tuple[float, float]]:
    """Where nobody speaks in the input nor in the dub (where the run bundle says a voice plays, which
    test_every_dub_stays_within_its_segment_and_spill bounds), within the recording."""
    voices = sorted((lo - FADE_S, hi + FADE_S) for lo, hi, _ in _voice_spans(live_run, aligned))
    spans = []
    for lo, hi in live_run.clip.music_only_spans(margin_s=0.3):
        pieces = [(lo, hi)]
        for v_lo, v_hi in voices:
            pieces = [part for a, b in pieces for part in ((a, min(b, v_lo)), (max(a, v_hi), b)) if part[1] > part[0]]
        spans += [(a, b) for a, b in pieces if b - a >= 0.5 and a + aligned.shift >= aligned.out_start]
    return spans


def test_every_dub_stays_within_its_segment_and_spill(live_run: LiveRun, aligned: Alignment) -> None:
    """A dub runs on at most WORKER_SEGMENT_SPILL past its segment's last fragment."""
    voices = _voice_spans(live_run, aligned)
    assert len(voices) >= 8, voices
    assert all(lo < hi <= end + SPILL_S + 0.01 for lo, hi, end in voices), voices


def test_the_music_in_the_gaps_is_kept(live_run: LiveRun, aligned: Alignment) -> None:
    music = [(lo, hi, rms_db(aligned.input(lo, hi)), rms_db(aligned.output(lo, hi)))
             for lo, hi in _music_spans(live_run, aligned)]
    assert len(music) >= 5, music
    assert all(o > -60 and abs(o - i) <= MUSIC_TOLERANCE_DB for _, _, i, o in music), music


def test_audio_stays_with_the_video(live_run: LiveRun, aligned: Alignment) -> None:
    """Where only music plays, the output's audio matches the input's at the video's shift: any A/V
    offset would move the best match away from lag 0."""
    lags = []
    for lo, hi in _music_spans(live_run, aligned):
        reference = aligned.input(lo, hi)
        search = aligned.output(lo - 0.2, hi + 0.2)
        if len(search) < len(reference) + RATE // 5:
            continue
        lags.append(round(best_lag_s(search, reference) - 0.2, 4))
    assert len(lags) >= 3, lags
    assert all(abs(lag) <= SYNC_TOLERANCE_S for lag in lags), lags


def test_the_viewer_gets_the_end(live_run: LiveRun, aligned: Alignment) -> None:
    in_end = live_run.clip.duration_s
    out_end = aligned.out_last_frame - aligned.shift  # the last frame received, in input time
    assert in_end - out_end <= EDGE_TOLERANCE_S, {"inputEnd": in_end, "lastReceived": out_end}


def test_the_viewer_gets_the_start(live_run: LiveRun, aligned: Alignment) -> None:
    first_received = aligned.out_first_frame - aligned.shift  # in input time; the input starts at 0
    assert first_received <= EDGE_TOLERANCE_S, {"firstReceived": first_received}


def test_the_recording_decodes_cleanly(live_run: LiveRun) -> None:
    probe = subprocess.run(["ffmpeg", "-v", "error", "-i", str(live_run.recording), "-f", "null", "-"],
                           capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S, check=False)
    assert probe.returncode == 0 and not probe.stderr.strip(), (probe.stderr[-2000:], backwards_dts(live_run.recording))


def backwards_dts(recording: Path) -> dict[str, list[tuple[float, float]]]:
    """Per stream, the first (previous, next) packet DTS pairs that do not increase: what to look at on failure."""
    found: dict[str, list[tuple[float, float]]] = {}
    for stream in ("a", "v"):
        listing = subprocess.run(["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries",
                                  "packet=dts_time", "-of", "csv=p=0", str(recording)],
                                 capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S, check=False).stdout
        dts = [float(line) for line in listing.split() if line.replace(".", "", 1).isdigit()]
        found[stream] = [(a, b) for a, b in itertools.pairwise(dts) if b <= a][:5]
    return found
