"""What the worker accepts: H.264 video and AAC audio. Decided from the caps on the demuxer's pads.

Works for both inputs: ``flvdemux`` pads (RTMP) carry ``video/x-h264`` / ``audio/mpeg``, RTSP pads
carry ``application/x-rtp`` with an ``encoding-name``. Anything else is an :class:`UnsupportedInput`
with a message an operator can act on (the worker exits with ExitCode.UNSUPPORTED_INPUT).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

# RTP encoding names -> the depayloader that turns them into what the parsers take
RTP_DEPAYLOADERS: dict[str, str] = {
    "H264": "rtph264depay",
    "MPEG4-GENERIC": "rtpmp4gdepay",  # AAC as RFC 3640 (MediaMTX's usual AAC)
    "MP4A-LATM": "rtpmp4adepay",      # AAC as RFC 6416
}

_FLV_NAMES = {
    # what flvdemux exposes for codecs we refuse, in words an operator knows
    "video/x-flash-video": "Sorenson H.263",
    "video/x-flash-screen": "Flash screen video",
    "video/x-vp6-flash": "VP6",
    "video/x-vp6-alpha": "VP6 alpha",
    "video/x-h265": "H.265/HEVC",
    "audio/x-nellymoser": "Nellymoser",
    "audio/x-speex": "Speex",
    "audio/x-adpcm": "ADPCM",
    "audio/x-alaw": "G.711 A-law",
    "audio/x-mulaw": "G.711 mu-law",
    "audio/x-raw": "uncompressed PCM",
}


class Track(str, Enum):
    video = "video"
    audio = "audio"


class UnsupportedInput(Exception):
    """The input carries a codec the worker does not take (not H.264 + AAC)."""


@dataclass(frozen=True)
class TrackInfo:
    track: Track
    codec: str              # "h264" or "aac"
    depayloader: str | None  # RTP depayloader to insert (RTSP input), None for FLV
    detail: str             # e.g. "320x240" or "48000 Hz, 2 ch", for the log line


def describe_caps(structure: Any) -> str:
    name = structure.get_name()
    if name == "application/x-rtp":
        return f"RTP {structure.get_value('encoding-name')}"
    if name == "audio/mpeg":
        version = structure.get_value("mpegversion")
        layer = structure.get_value("layer")
        if version == 1 and layer == 3:
            return "MP3"
        return f"MPEG audio (mpegversion={version}, layer={layer})"
    return _FLV_NAMES.get(name, name)


def classify(structure: Any) -> TrackInfo | None:
    """The track a pad carries, from its caps' first structure.

    Returns None for streams that are neither audio nor video (RTSP metadata tracks: ignored).
    Raises :class:`UnsupportedInput` for audio/video in a codec the worker does not take.
    """
    name = structure.get_name()
    if name == "application/x-rtp":
        media = structure.get_value("media")
        encoding = str(structure.get_value("encoding-name") or "").upper()
        if media not in ("video", "audio"):
            return None
        depay = RTP_DEPAYLOADERS.get(encoding)
        wanted = "H264" if media == "video" else "MPEG4-GENERIC"
        if depay is None or (media == "video") != (encoding == "H264"):
            raise UnsupportedInput(
                f"input {media} is {encoding or 'of unknown encoding'} over RTP; the worker needs "
                f"H.264 video and AAC audio (RTP {wanted})"
            )
        track = Track(media)
        rate = structure.get_value("clock-rate")
        detail = f"RTP {encoding}" + (f", {rate} Hz" if track is Track.audio and rate else "")
        return TrackInfo(track, "h264" if track is Track.video else "aac", depay, detail)
    if name.startswith("video/"):
        if name != "video/x-h264":
            raise UnsupportedInput(f"input video is {describe_caps(structure)}; the worker needs H.264")
        width, height = structure.get_value("width"), structure.get_value("height")
        detail = f"{width}x{height}" if width and height else "size not announced"
        return TrackInfo(Track.video, "h264", None, detail)
    if name.startswith("audio/"):
        if name != "audio/mpeg" or structure.get_value("mpegversion") not in (2, 4):
            raise UnsupportedInput(f"input audio is {describe_caps(structure)}; the worker needs AAC")
        rate, channels = structure.get_value("rate"), structure.get_value("channels")
        return TrackInfo(Track.audio, "aac", None, f"{rate} Hz, {channels} ch")
    return None
