"""MediaMTX backend without the binary: the config it writes, its addresses, its process lifecycle
(with a stand-in executable that reads the config and opens the ports like MediaMTX would)."""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from livedub.config import load_settings
from livedub.config.settings import MediaSettings
from livedub.media.base import HookTarget, MediaServerError
from livedub.media.mediamtx import COMPOSE_PROFILE, MediaMtxConfig, MediaMtxServer, render_config
from livedub.obs.metrics import free_port
from livedub.proc.child import port_accepts

REPO = Path(__file__).resolve().parents[3]


def test_compose_config_file_is_the_rendered_profile() -> None:
    committed = (REPO / "deploy" / "mediamtx" / "mediamtx.yml").read_text()
    assert committed == render_config(COMPOSE_PROFILE), \
        "deploy/mediamtx/mediamtx.yml is stale: python -m livedub.media.mediamtx > deploy/mediamtx/mediamtx.yml"


def test_compose_config_content() -> None:
    conf = yaml.safe_load(render_config(COMPOSE_PROFILE))
    assert (conf["rtmpAddress"], conf["rtspAddress"], conf["apiAddress"], conf["metricsAddress"],
            conf["playbackAddress"], conf["hlsAddress"], conf["webrtcAddress"]) == \
        (":1935", ":8554", ":9997", ":9998", ":9996", ":8888", ":8889")
    assert conf["api"] is True and conf["metrics"] is True and conf["rtspTransports"] == ["tcp"]
    assert conf["pathDefaults"]["record"] is False and conf["pathDefaults"]["recordFormat"] == "fmp4"
    assert conf["pathDefaults"]["recordPath"].startswith("/recordings/%path/")
    ingest = conf["paths"]["~^live/[A-Za-z0-9_-]{1,64}/in$"]
    assert ingest["runOnReady"] == "sh /hooks/hook.sh ready http://stream-orchestration:8080 --timeout 2"
    assert ingest["runOnNotReady"] == "sh /hooks/hook.sh not-ready http://stream-orchestration:8080 --timeout 2"
    assert conf["paths"]["~^live/[A-Za-z0-9_-]{1,64}/out$"] == {}
    # only live/<valid id>/in and /out exist: MediaMTX refuses any other path (../in, "a b/in") itself
    assert set(conf["paths"]) == {"~^live/[A-Za-z0-9_-]{1,64}/in$", "~^live/[A-Za-z0-9_-]{1,64}/out$"}
    api_user = conf["authInternalUsers"][1]
    assert {p["action"] for p in api_user["permissions"]} == {"api", "metrics"}
    assert "172.16.0.0/12" in api_user["ips"]


def test_native_config_from_settings_and_hook_wiring() -> None:
    settings = load_settings(MediaSettings, env={}, overrides={
        "backend": "mediamtx", "host": "10.1.2.3", "rtmp_port": 11935, "rtsp_port": 18554, "api_port": 19997,
        "hls_port": 18888, "record": True})
    server = MediaMtxServer.from_settings(settings, recordings_dir=Path("/data/rec"))
    conf = yaml.safe_load(server.config_text(HookTarget("http://127.0.0.1:8123")))
    assert conf["rtmpAddress"] == ":11935" and conf["apiAddress"] == "127.0.0.1:19997"
    assert conf["authInternalUsers"][1]["ips"] == ["127.0.0.1", "::1"]
    assert conf["authInternalUsers"][2]["ips"] == ["127.0.0.1", "::1", "10.1.2.3"]  # workers via MEDIA_HOST
    assert conf["pathDefaults"]["record"] is True
    assert conf["pathDefaults"]["recordPath"] == "/data/rec/%path/%Y-%m-%d_%H-%M-%S-%f"
    ready = shlex.split(conf["paths"]["~^live/[A-Za-z0-9_-]{1,64}/in$"]["runOnReady"])
    assert ready == [sys.executable, "-m", "livedub.media.mediamtx_hook", "ready", "http://127.0.0.1:8123",
                     "--timeout", "2"]
    assert server.worker_input_url("cam") == "rtsp://10.1.2.3:18554/live/cam/in"
    assert server.worker_output_url("cam") == "rtmp://10.1.2.3:11935/live/cam/out"
    assert server.watch_urls("cam")["hls"] == "http://10.1.2.3:18888/live/cam/out/"
    assert server.ingest("cam").ffmpeg_url == "rtmp://10.1.2.3:11935/live//cam/in"
    assert server.api_url == "http://10.1.2.3:19997"


def allowed(conf: dict, action: str, path: str, ip: str) -> bool:
    """MediaMTX's internal authentication for an anonymous client, as documented in its mediamtx.yml and
    implemented in internal/auth/manager.go: the request passes when one entry's ``ips`` (empty: any)
    contains the client and one of its permissions has the action and, for publish/read/playback, a
    matching ``path`` (empty: any; ``~`` prefix: a regular expression, searched unanchored)."""
    client = ipaddress.ip_address(ip)
    for user in conf["authInternalUsers"]:
        assert user["user"] == "any"
        networks = [ipaddress.ip_network(net) for net in user["ips"]]
        if networks and not any(client in net for net in networks):
            continue
        for perm in user["permissions"]:
            if perm["action"] != action:
                continue
            want = perm.get("path") or ""
            if action not in ("publish", "read", "playback") or not want:
                return True
            if want.startswith("~") and re.search(want[1:], path) or want == path:
                return True
    return False


INTERNET, COMPOSE_NET, LAN = "203.0.113.7", "172.18.0.5", "192.168.1.20"


@pytest.mark.parametrize(("action", "path", "ip", "compose", "native"), [
    ("publish", "live/cam1/in", INTERNET, True, True),  # ingest: anyone, always
    ("publish", "live/cam1/in", "2001:db8::7", True, True),
    ("publish", "live/cam1/out", INTERNET, False, False),  # outputs: the workers only
    ("publish", "live/cam1/out", "2001:db8::7", False, False),
    ("publish", "live/cam1/out", COMPOSE_NET, True, False),  # the stream-worker container
    ("publish", "live/cam1/out", "127.0.0.1", True, True),  # a native worker
    ("publish", "live/cam1/out", "10.1.2.3", True, True),  # natively: MEDIA_HOST's address
    ("publish", "live/cam1/out", LAN, True, False),
    ("publish", "xlive/cam1/in/out", INTERNET, False, False),  # the ingest rule is anchored
    ("publish", "live/cam1/inx", INTERNET, False, False),
    ("read", "live/cam1/out", INTERNET, True, True),  # watching stays open
    ("playback", "live/cam1/out", INTERNET, True, True),
    ("api", "", INTERNET, False, False),
    ("api", "", COMPOSE_NET, True, False),  # the orchestrator container's reconciliation
    ("api", "", "127.0.0.1", True, True),
    ("metrics", "", INTERNET, False, False),
    ("metrics", "", "fd12::1", True, False),
])
def test_who_may_do_what(action: str, path: str, ip: str, compose: bool, native: bool) -> None:
    settings = load_settings(MediaSettings, env={}, overrides={"backend": "mediamtx", "host": "10.1.2.3"})
    native_conf = yaml.safe_load(MediaMtxServer.from_settings(settings).config_text(None))
    assert allowed(yaml.safe_load(render_config(COMPOSE_PROFILE)), action, path, ip) is compose
    assert allowed(native_conf, action, path, ip) is native


def test_no_hooks_renders_an_empty_ingest_entry() -> None:
    conf = yaml.safe_load(render_config(MediaMtxConfig()))
    assert conf["paths"]["~^live/[A-Za-z0-9_-]{1,64}/in$"] == {}


FAKE_MEDIAMTX = textwrap.dedent("""\
    #!{python}
    # Stand-in for the mediamtx binary: reads its config file argument like MediaMTX, opens the
    # RTMP and API ports, answers /v3/paths/list with one ready ingest path.
    import json, re, socket, sys, threading
    from http.server import BaseHTTPRequestHandler, HTTPServer
    conf = open(sys.argv[1]).read()
    if "FAIL" in conf:
        print("ERR: invalid configuration", flush=True)
        sys.exit(1)
    port = lambda key: int(re.search(key + r": '[^:']*:(\\d+)'", conf).group(1))
    rtmp = socket.socket(); rtmp.bind(("127.0.0.1", port("rtmpAddress"))); rtmp.listen()
    class Api(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({{"pageCount": 1, "itemCount": 1, "items": [
                {{"name": "live/abc/in", "ready": True, "source": {{"type": "rtmpConn", "id": "1"}}}}]}}).encode()
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a): pass
    print("INF MediaMTX stand-in", flush=True)
    HTTPServer(("127.0.0.1", port("apiAddress")), Api).serve_forever()
""")


@pytest.fixture
def fake_binary(tmp_path: Path) -> Path:
    binary = tmp_path / "bin" / "mediamtx"
    binary.parent.mkdir()
    binary.write_text(FAKE_MEDIAMTX.format(python=sys.executable))
    binary.chmod(0o755)
    return binary


def test_start_list_and_stop_with_a_stand_in_binary(fake_binary: Path) -> None:
    config = MediaMtxConfig(rtmp_port=free_port(), api_port=free_port())
    server = MediaMtxServer(config=config, binary=str(fake_binary), start_timeout=10)
    server.start(HookTarget("http://127.0.0.1:1"))
    try:
        assert port_accepts("127.0.0.1", config.rtmp_port)
        assert server.list_live_ingest() == {"abc"}
        workdir = server._workdir
        assert workdir is not None and (workdir / "mediamtx.yml").exists()
    finally:
        server.stop()
    assert not port_accepts("127.0.0.1", config.api_port)
    assert not workdir.exists()


def test_a_binary_that_exits_is_reported_with_its_log(fake_binary: Path) -> None:
    config = MediaMtxConfig(rtmp_port=free_port(), api_port=free_port(), record_path="FAIL")
    server = MediaMtxServer(config=config, binary=str(fake_binary), start_timeout=10)
    with pytest.raises(MediaServerError, match="invalid configuration"):
        server.start(None)


def test_missing_binary() -> None:
    with pytest.raises(MediaServerError, match="not found on PATH"):
        MediaMtxServer(binary="/nonexistent/mediamtx").start(None)


def test_the_native_hook_command_runs_as_written(tmp_path: Path) -> None:
    """Split runOnReady the way MediaMTX does (shell quoting, no shell) and run it: usage error only
    because no MTX_PATH is set, which proves the interpreter and module resolve."""
    conf = yaml.safe_load(MediaMtxServer(config=MediaMtxConfig()).config_text(HookTarget("http://127.0.0.1:1")))
    argv = shlex.split(conf["paths"]["~^live/[A-Za-z0-9_-]{1,64}/in$"]["runOnNotReady"])
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run(argv, env=env, check=False, capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and "MTX_PATH is not set" in result.stderr
