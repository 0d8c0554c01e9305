"""`livedub dub IN -o OUT`: decode the audio, run it through the streaming core, remux with the
original video (copied, never re-encoded); the translation and the transcript as captions beside OUT
(``<stem>.<target>.vtt/.srt``, ``<stem>.<source>.vtt/.srt``)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from livedub.config.settings import PathSettings, WorkerSettings
from livedub.core.captions import CaptionText, CaptionTrack, write_captions
from livedub.core.config import CoreConfig
from livedub.core.messages import CHANNELS, SAMPLE_RATE, OutputBlock
from livedub.core.replay import Pacing, ReplayReport, replay
from livedub.processors import create_engine
from livedub.sts.frame_vad import segment_vad


class DubError(RuntimeError):
    pass


@dataclass(frozen=True)
class MediaInfo:
    duration: float
    has_video: bool
    has_audio: bool


@dataclass(frozen=True)
class DubReport:
    output: Path
    duration: float
    replay: ReplayReport
    captions: tuple[Path, ...] = ()  # <stem>.<lang>.vtt/.srt of the translation, then of the transcript


def probe(path: Path) -> MediaInfo:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if result.returncode != 0:
        raise DubError(f"cannot read {path}: {result.stderr.strip() or 'ffprobe failed'}")
    info = json.loads(result.stdout or "{}")
    kinds = {stream.get("codec_type") for stream in info.get("streams", [])}
    duration = float(info.get("format", {}).get("duration") or 0.0)
    return MediaInfo(duration=duration, has_video="video" in kinds, has_audio="audio" in kinds)


# What a file changes in the live defaults, unless the user set the variable: no viewer waits, so a
# speech segment may be a whole utterance (Whisper and the translator get whole sentences instead of
# the live path's 2.5 s pieces), and the delay (only memory offline) covers it.
FILE_DEFAULTS = {"segment_max_dur": 10.0, "buffer_target": 14.0}


def quality_first(worker: WorkerSettings) -> WorkerSettings:
    """A file has no live deadline: with WORKER_MT=auto, the llm translator (more fluent than the
    rule-based ones, about 2 s a sentence on 2 cores) when it is installed and has the pair."""
    from livedub.sts.providers.llm_mt import LANGUAGES
    from livedub.sts.registry import Stage, spec

    pair = {worker.source_lang.split("-")[0], worker.target_lang.split("-")[0]}
    if worker.mt != "auto" or len(pair) < 2 or not pair <= LANGUAGES.keys():
        return worker
    if not spec(Stage.mt, "llm").availability().ok:
        return worker
    return worker.model_copy(update={"mt": "llm"})


def _ffmpeg(args: list[str], timeout: float) -> None:
    result = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args],
                            capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise DubError(f"ffmpeg failed: {result.stderr.strip()[-500:]}")


def dub_file(source: Path, destination: Path, worker: WorkerSettings, paths: PathSettings,
             on_progress: Callable[[float], None] | None = None) -> DubReport:
    """Dub ``source`` into ``destination``. ``on_progress`` gets the seconds of audio done so far."""
    info = probe(source)
    if not info.has_audio:
        raise DubError(f"{source} has no audio track to dub")
    engine = create_engine(worker, paths)
    # offline pacing: every fragment waits for its STS result (no live deadline to miss), but a
    # hung STS call still falls back after a bound so a file always finishes
    config = CoreConfig.from_settings(worker)
    timeout = max(60.0, info.duration * 4)
    with tempfile.TemporaryDirectory(prefix="livedub-dub-") as tmp:
        decoded, dubbed = Path(tmp) / "in.wav", Path(tmp) / "dubbed.wav"
        _ffmpeg(["-i", str(source), "-vn", "-ac", str(CHANNELS), "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le",
                 str(decoded)], timeout)

        translation, transcript = CaptionTrack(CaptionText.translation), CaptionTrack(CaptionText.transcript)

        def progress(block: OutputBlock) -> None:
            translation.add(block)
            transcript.add(block)
            if on_progress is not None:
                on_progress((block.input_pts + block.duration) / 1e9)

        report = replay(decoded, dubbed, config=config, processor=engine.processor, separator=engine.separator,
                        pacing=Pacing.offline, vad=segment_vad(worker),
                        stream_id=worker.stream_id or "dub", on_block=progress, sts_timeout_s=30.0)
        destination.parent.mkdir(parents=True, exist_ok=True)
        video = ["-map", "0:v:0", "-c:v", "copy"] if info.has_video else []
        _ffmpeg(["-i", str(source), "-i", str(dubbed), *video, "-map", "1:a:0", "-c:a", "aac", "-b:a", "160k",
                 "-ar", str(SAMPLE_RATE), "-ac", str(CHANNELS), str(destination)], timeout)
    captions = write_captions(destination, worker.target_lang, translation.cues)
    source_lang = "source" if worker.source_lang == "auto" else worker.source_lang
    if source_lang != worker.target_lang:
        captions += write_captions(destination, source_lang, transcript.cues)
    return DubReport(output=destination, duration=info.duration, replay=report, captions=tuple(captions))
