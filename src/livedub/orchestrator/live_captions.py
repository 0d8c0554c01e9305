"""Live captions as HLS subtitle renditions of a dubbed output (the embedded nginx-rtmp's HLS).

The orchestrator serves, per stream, under ``/v1/streams/<id>/hls/``:

* ``index.m3u8``: a multivariant playlist: nginx's media playlist of ``live/<id>/out`` as the one
  variant, and two ``SUBTITLES`` renditions, the translation (what the dub says, default) and the
  transcript (what the speaker said);
* ``captions-<text>.m3u8``: a subtitle media playlist that mirrors nginx's segment by segment
  (same media sequence, durations and discontinuities), one WebVTT segment per video segment;
* ``captions-<text>/<segment>.vtt``: the cues that start within that video segment, from the
  worker's run bundle (``transcripts.RunTail``).

Timing. Cue times are the run's own (nanoseconds from its first fragment, which starts at the
input's first audio sample). The worker's output keeps the input's RTMP timestamps (its delay is on
the wall clock), and nginx-rtmp writes an RTMP timestamp ``t`` as MPEG-TS PTS ``t + hls_muxdelay``
(700 ms by default; measured, docs/roadmap.md), so each WebVTT segment carries
``X-TIMESTAMP-MAP=MPEGTS:<0.7 s in 90 kHz ticks>,LOCAL:00:00:00.000`` and players (hls.js, Safari)
place the cues on the video's own timeline. A segment's window comes from the first PTS in its
transport stream. Pure functions here; the routes are in ``app.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from livedub.core.captions import Cue, to_webvtt

TS_HZ = 90_000
TS_PACKET = 188
PTS_WRAP = 1 << 33
NGINX_MUXDELAY_S = 0.7  # nginx-rtmp's hls_muxdelay default (livedub's nginx config leaves it)
TEXTS = {"translation": "dub", "transcript": "speaker"}  # subtitle track -> what its name says


@dataclass(frozen=True)
class MediaSegment:
    uri: str
    duration_s: float
    discontinuity: bool = False


@dataclass(frozen=True)
class MediaPlaylist:
    target_duration: int
    media_sequence: int
    segments: tuple[MediaSegment, ...]
    ended: bool = False


class PlaylistError(ValueError):
    """Not an HLS media playlist."""


def parse_media_playlist(text: str) -> MediaPlaylist:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise PlaylistError("not an M3U playlist")
    target, sequence, ended = 0, 0, False
    segments: list[MediaSegment] = []
    duration: float | None = None
    discontinuity = False
    for line in lines[1:]:
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(float(line.split(":", 1)[1]))
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line.startswith("#EXT-X-STREAM-INF"):
            raise PlaylistError("a multivariant playlist, not a media playlist")
        elif not line.startswith("#"):
            if duration is None:
                raise PlaylistError(f"segment {line!r} without #EXTINF")
            segments.append(MediaSegment(line, duration, discontinuity))
            duration, discontinuity = None, False
    return MediaPlaylist(target, sequence, tuple(segments), ended)


def multivariant(media_url: str, languages: dict[str, str]) -> str:
    """``languages``: subtitle track (translation, transcript) -> its BCP 47 language."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
    for index, (text, what) in enumerate(TEXTS.items()):
        language = languages.get(text) or "und"
        default = "YES" if index == 0 else "NO"
        lines.append(f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="captions",NAME="{language} ({what})",'
                     f'LANGUAGE="{language}",DEFAULT={default},AUTOSELECT={default},URI="captions-{text}.m3u8"')
    lines += ['#EXT-X-STREAM-INF:BANDWIDTH=2000000,SUBTITLES="captions"', media_url, ""]
    return "\n".join(lines)


def segment_name(uri: str) -> str:
    """``12.ts`` (or ``…/12.ts?x``) -> ``12``: how a subtitle segment names the video segment it covers."""
    name = uri.split("?", 1)[0].rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0]
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", stem):
        raise PlaylistError(f"unexpected segment name {name!r}")
    return stem


def subtitle_playlist(media: MediaPlaylist, text: str) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{max(1, media.target_duration)}",
             f"#EXT-X-MEDIA-SEQUENCE:{media.media_sequence}"]
    for segment in media.segments:
        if segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += [f"#EXTINF:{segment.duration_s:.3f},", f"captions-{text}/{segment_name(segment.uri)}.vtt"]
    if media.ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def first_pts(ts: bytes) -> int | None:
    """The first PES presentation timestamp (90 kHz ticks) in an MPEG transport stream, or None."""
    for offset in range(0, len(ts) - TS_PACKET + 1, TS_PACKET):
        packet = ts[offset:offset + TS_PACKET]
        if packet[0] != 0x47 or not packet[1] & 0x40:  # sync byte; payload_unit_start_indicator
            continue
        adaptation = (packet[3] >> 4) & 0x3
        start = 4
        if adaptation in (2, 3):
            start += 1 + packet[4]
        if adaptation == 2 or start + 14 > TS_PACKET:
            continue
        pes = packet[start:]
        if pes[:3] != b"\x00\x00\x01" or not pes[7] & 0x80:  # a PES header with a PTS
            continue
        p = pes[9:14]
        return (((p[0] >> 1) & 0x07) << 30) | (p[1] << 22) | ((p[2] >> 1) << 15) | (p[3] << 7) | (p[4] >> 1)
    return None


def webvtt_segment(cues: list[Cue], window_start_s: float, window_end_s: float,
                   offset_s: float = NGINX_MUXDELAY_S) -> str:
    """The cues whose start, on the transport stream's timeline (cue + ``offset_s``), falls in
    ``[window_start_s, window_end_s)``, with the map from cue times to that timeline."""
    wrap_s = PTS_WRAP / TS_HZ  # PTS wraps after 26.5 h; the window comes from a PTS, so the cues follow
    chosen = [c for c in cues if window_start_s <= (c.start_ns / 1e9 + offset_s) % wrap_s < window_end_s]
    body = to_webvtt(chosen)
    header, _, rest = body.partition("\n\n")
    return f"{header}\nX-TIMESTAMP-MAP=MPEGTS:{round(offset_s * TS_HZ)},LOCAL:00:00:00.000\n\n{rest}"
