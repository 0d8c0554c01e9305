"""The live caption track's playlists and WebVTT segments, against nginx-rtmp's own playlist text."""

from __future__ import annotations

import pytest

from livedub.core.captions import Cue
from livedub.orchestrator.live_captions import (
    PlaylistError,
    first_pts,
    multivariant,
    parse_media_playlist,
    subtitle_playlist,
    webvtt_segment,
)

S = 1_000_000_000
# what the embedded nginx-rtmp 1.2.2 wrote for a live output (hls_fragment 1s, 2 s GOP)
NGINX = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-TARGETDURATION:2\n"
         "#EXTINF:2.000,\n3.ts\n#EXTINF:2.000,\n4.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1.960,\n5.ts\n")


def test_the_subtitle_playlist_follows_the_outputs_segments() -> None:
    media = parse_media_playlist(NGINX)
    assert (media.media_sequence, media.target_duration, len(media.segments)) == (3, 2, 3)
    text = subtitle_playlist(media, "translation")
    assert "#EXT-X-MEDIA-SEQUENCE:3" in text and "#EXT-X-ENDLIST" not in text  # live, like its video
    assert text.split("\n")[4:] == ["#EXTINF:2.000,", "captions-translation/3.vtt", "#EXTINF:2.000,",
                                    "captions-translation/4.vtt", "#EXT-X-DISCONTINUITY", "#EXTINF:1.960,",
                                    "captions-translation/5.vtt", ""]


def test_what_is_not_a_media_playlist_is_refused() -> None:
    with pytest.raises(PlaylistError):
        parse_media_playlist("<html>502</html>")
    with pytest.raises(PlaylistError):
        parse_media_playlist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nout.m3u8\n")
    with pytest.raises(PlaylistError):
        subtitle_playlist(parse_media_playlist("#EXTM3U\n#EXTINF:2,\n../../etc/pass wd.ts\n"), "transcript")


def test_the_multivariant_playlist_offers_both_tracks_with_the_dub_first() -> None:
    text = multivariant("http://127.0.0.1:8088/hls/cam1/out/index.m3u8", {"translation": "es", "transcript": "en"})
    lines = text.splitlines()
    assert lines[2].startswith('#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="captions",NAME="es (dub)",LANGUAGE="es",'
                               'DEFAULT=YES') and lines[2].endswith('URI="captions-translation.m3u8"')
    assert 'LANGUAGE="en",DEFAULT=NO' in lines[3]
    assert lines[4:6] == ['#EXT-X-STREAM-INF:BANDWIDTH=2000000,SUBTITLES="captions"',
                          "http://127.0.0.1:8088/hls/cam1/out/index.m3u8"]


def _pes_packet(pts: int, *, adaptation: bool = False) -> bytes:
    encoded = bytes([0x21 | ((pts >> 29) & 0x0E), (pts >> 22) & 0xFF, 0x01 | ((pts >> 14) & 0xFE),
                     (pts >> 7) & 0xFF, 0x01 | ((pts << 1) & 0xFE)])
    pes = b"\x00\x00\x01\xe0\x00\x00\x80\x80\x05" + encoded
    head = b"\x47\x41\x00" + (b"\x30\x07" + b"\x00" * 7 if adaptation else b"\x10")
    return (head + pes).ljust(188, b"\xff")


def test_the_first_pts_of_a_transport_stream_is_read() -> None:
    other = b"\x47\x00\x11\x10".ljust(188, b"\xff")  # no payload start: skipped
    assert first_pts(other + _pes_packet(953_340)) == 953_340  # 10.5927 s, as nginx wrote 5.ts
    assert first_pts(_pes_packet((1 << 33) - 1, adaptation=True)) == (1 << 33) - 1
    assert first_pts(other) is None and first_pts(b"") is None


def test_a_segment_holds_the_cues_that_start_in_it_mapped_to_the_transport_stream() -> None:
    cues = [Cue(1 * S, 3 * S, "Uno."), Cue(4 * S, 6 * S, "Dos."), Cue(9 * S, 10 * S, "Tres.")]
    # the segment's video starts at PTS 4.7 s = run time 4.0 s + nginx's 0.7 s muxdelay
    text = webvtt_segment(cues, 4.7, 6.7)
    assert text.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:63000,LOCAL:00:00:00.000\n\n")
    assert "Dos." in text and "Uno." not in text and "Tres." not in text
    assert "00:00:04.000 --> 00:00:06.000" in text  # the cue keeps run time; the map places it
    assert "-->" not in webvtt_segment(cues, 100.0, 102.0)  # a segment without cues is still valid WebVTT
