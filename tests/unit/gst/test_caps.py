"""Which inputs the worker takes: a table of caps as flvdemux (RTMP) and rtspsrc (RTSP) announce them."""

from __future__ import annotations

import pytest

from livedub.gst import Gst, running_time
from livedub.gst.caps import Track, UnsupportedInput, classify


def structure(caps: str):
    return Gst.Caps.from_string(caps).get_structure(0)


@pytest.mark.parametrize(("caps", "track", "depayloader", "detail"), [
    ("video/x-h264, stream-format=avc, alignment=au, width=320, height=240", Track.video, None, "320x240"),
    ("video/x-h264, stream-format=byte-stream", Track.video, None, "size not announced"),
    ("audio/mpeg, mpegversion=4, stream-format=raw, rate=48000, channels=2", Track.audio, None, "48000 Hz, 2 ch"),
    ("audio/mpeg, mpegversion=2, rate=44100, channels=1", Track.audio, None, "44100 Hz, 1 ch"),
    ("application/x-rtp, media=video, encoding-name=H264, clock-rate=90000", Track.video, "rtph264depay",
     "RTP H264"),
    ("application/x-rtp, media=audio, encoding-name=MPEG4-GENERIC, clock-rate=48000", Track.audio,
     "rtpmp4gdepay", "RTP MPEG4-GENERIC, 48000 Hz"),
    ("application/x-rtp, media=audio, encoding-name=MP4A-LATM, clock-rate=44100", Track.audio, "rtpmp4adepay",
     "RTP MP4A-LATM, 44100 Hz"),
])
def test_h264_and_aac_are_accepted(caps: str, track: Track, depayloader: str | None, detail: str) -> None:
    info = classify(structure(caps))
    assert info is not None
    assert (info.track, info.depayloader, info.detail) == (track, depayloader, detail)
    assert info.codec == ("h264" if track is Track.video else "aac")


@pytest.mark.parametrize(("caps", "message"), [
    ("audio/mpeg, mpegversion=1, layer=3, rate=44100, channels=2", "input audio is MP3; the worker needs AAC"),
    ("audio/x-speex, rate=16000", "input audio is Speex; the worker needs AAC"),
    ("audio/x-nellymoser, rate=44100", "input audio is Nellymoser; the worker needs AAC"),
    ("audio/x-raw, format=S16LE, rate=44100", "input audio is uncompressed PCM; the worker needs AAC"),
    ("video/x-flash-video, flvversion=1", "input video is Sorenson H.263; the worker needs H.264"),
    ("video/x-vp6-flash", "input video is VP6; the worker needs H.264"),
    ("video/x-h265, stream-format=hvc1", "input video is H.265/HEVC; the worker needs H.264"),
    ("application/x-rtp, media=audio, encoding-name=OPUS, clock-rate=48000",
     "input audio is OPUS over RTP; the worker needs H.264 video and AAC audio"),
    ("application/x-rtp, media=video, encoding-name=H265, clock-rate=90000",
     "input video is H265 over RTP; the worker needs H.264 video and AAC audio"),
    ("application/x-rtp, media=video, encoding-name=MPEG4-GENERIC, clock-rate=90000",
     "input video is MPEG4-GENERIC over RTP"),
])
def test_other_codecs_are_refused_with_a_message_an_operator_understands(caps: str, message: str) -> None:
    with pytest.raises(UnsupportedInput) as excinfo:
        classify(structure(caps))
    assert message in str(excinfo.value)


@pytest.mark.parametrize("caps", [
    "application/x-rtp, media=application, encoding-name=VND.ONVIF.METADATA, clock-rate=90000",
    "text/x-raw, format=utf8",
])
def test_streams_that_are_neither_audio_nor_video_are_ignored(caps: str) -> None:
    assert classify(structure(caps)) is None


def test_running_time_keeps_timestamps_before_the_segment_start_as_negative() -> None:
    segment = Gst.Segment()
    segment.init(Gst.Format.TIME)
    segment.start = Gst.SECOND
    assert running_time(segment, 3 * Gst.SECOND) == 2 * Gst.SECOND
    assert running_time(segment, Gst.SECOND // 2) == -(Gst.SECOND // 2)
    assert running_time(segment, Gst.CLOCK_TIME_NONE) is None
