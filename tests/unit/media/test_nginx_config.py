"""The embedded nginx-rtmp's HLS for browsers: configured only with a port, and where its files live."""

from __future__ import annotations

from pathlib import Path

from livedub.media.nginx import NginxMediaServer


def test_hls_is_written_and_served_only_when_it_has_a_port(tmp_path: Path) -> None:
    plain = NginxMediaServer(prefix=tmp_path).config_text(None)
    assert "hls on" not in plain and "/hls/" not in plain
    assert "hls" not in NginxMediaServer(prefix=tmp_path).watch_urls("cam1")

    server = NginxMediaServer(host="127.0.0.1", hls_port=18888, prefix=tmp_path)
    conf = server.config_text("http://127.0.0.1:1/hooks")
    assert f"hls_path {tmp_path}/hls;" in conf and "hls_nested on;" in conf
    assert "listen 127.0.0.1:18888;" in conf and f"root {tmp_path};" in conf
    assert server.watch_urls("cam1")["hls"] == "http://127.0.0.1:18888/hls/cam1/out/index.m3u8"


def test_the_streams_hls_directory_is_made_before_its_publisher_is_answered(tmp_path: Path) -> None:
    # nginx-rtmp's mkdir of <hls_path>/<id>/out is not recursive: without <id> it writes nothing
    server = NginxMediaServer(hls_port=18888, prefix=tmp_path)
    server._prepare_hls("live/cam1/in")
    assert (tmp_path / "hls" / "cam1").is_dir()
