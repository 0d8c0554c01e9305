"""The MediaMTX hook program, run the way MediaMTX runs it: environment in, HTTP out, exit code.

Both implementations (``deploy/mediamtx/hook.sh`` for the compose image, ``python -m
livedub.media.mediamtx_hook`` for native runs) are held to the same contract.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from livedub.obs.metrics import free_port
from tests.require import require

REPO = Path(__file__).resolve().parents[3]
HOOK_SH = REPO / "deploy" / "mediamtx" / "hook.sh"

IMPLEMENTATIONS = {
    "python": [sys.executable, "-m", "livedub.media.mediamtx_hook"],
    "sh": ["sh", str(HOOK_SH)],
}


def _requires(impl: str) -> None:
    if impl == "sh":
        require(bool(shutil.which("jq") and shutil.which("curl")), "hook.sh needs jq and curl (the compose image has both)")


@dataclass
class FakeOrchestrator:
    """Answers hook POSTs with scripted statuses (default 202) and records what it got."""

    statuses: list[int] = field(default_factory=list)
    hang: float = 0.0
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def serve(self) -> ThreadingHTTPServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append((self.path, dict(self.headers.items()), body))
                if fake.hang:
                    time.sleep(fake.hang)  # a stuck orchestrator, for the client's timeout
                status = fake.statuses.pop(0) if fake.statuses else 202
                payload = json.dumps({"error": "nope"} if status >= 400 else {"correlationId": "x"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@pytest.fixture
def orchestrator() -> Iterator[FakeOrchestrator]:
    fake = FakeOrchestrator()
    server = fake.serve()
    yield fake
    server.shutdown()
    server.server_close()


def run_hook(impl: str, event: str, env: dict[str, str], url: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """The hook as MediaMTX runs it: ``<event> <url> --timeout 1``, the MTX_* variables in ``env``."""
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([*IMPLEMENTATIONS[impl], event, url, "--timeout", "1"], env={**base, **env}, check=False,
                          capture_output=True, timeout=timeout, text=True)


MTX = {"MTX_PATH": "live/cam-1/in", "MTX_QUERY": "lang=es&voice=ef_dora", "MTX_SOURCE_TYPE": "rtmpConn",
       "MTX_SOURCE_ID": "a0b1c2"}

NASTY_QUERIES = [
    'lang=es&note="quoted" \\back\\slash',
    "x=$(touch /tmp/pwned)&y=`id`&z=';--",
    "multi\nline\tand\rcontrol\x01\x1f",
    "unicode=ñandú 日本語 🎙️",
    "{\"json\": [1,2]}&%22&%00",
]


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("event", ["ready", "not-ready"])
def test_posts_the_event_as_json(impl: str, event: str, orchestrator: FakeOrchestrator) -> None:
    _requires(impl)
    result = run_hook(impl, event, MTX, orchestrator.url)
    assert result.returncode == 0, result.stderr
    ((path, headers, body),) = orchestrator.requests
    assert path == f"/v1/mediamtx/events/{event}"
    assert headers["Content-Type"] == "application/json"
    assert len(headers["X-Correlation-Id"]) >= 8
    assert json.loads(body) == {"path": "live/cam-1/in", "query": "lang=es&voice=ef_dora",
                                "sourceType": "rtmpConn", "sourceId": "a0b1c2"}
    assert "live/cam-1/in -> 202" in result.stdout


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("query", NASTY_QUERIES)
def test_any_query_characters_stay_data(impl: str, query: str, orchestrator: FakeOrchestrator,
                                        tmp_path: Path) -> None:
    _requires(impl)
    result = run_hook(impl, "ready", {**MTX, "MTX_QUERY": query.replace("/tmp/pwned", str(tmp_path / "pwned"))},
                      orchestrator.url)
    assert result.returncode == 0, result.stderr
    sent = json.loads(orchestrator.requests[0][2])
    assert sent["query"] == query.replace("/tmp/pwned", str(tmp_path / "pwned"))
    assert not (tmp_path / "pwned").exists()
    assert "ef_dora" not in result.stdout + result.stderr  # the query is never echoed


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_url_and_timeout_come_from_the_command_line_only(impl: str, orchestrator: FakeOrchestrator) -> None:
    _requires(impl)
    env = {**MTX, "ORCH_PUBLIC_URL": f"http://127.0.0.1:{free_port()}", "HOOK_TIMEOUT": "bogus"}
    result = run_hook(impl, "ready", env, orchestrator.url + "/")
    assert result.returncode == 0, result.stderr
    assert orchestrator.requests[0][0] == "/v1/mediamtx/events/ready"
    url = orchestrator.url  # without --timeout: the default
    result = subprocess.run([*IMPLEMENTATIONS[impl], "not-ready", url], check=False, capture_output=True, text=True,
                            timeout=20, env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO / "src"), **MTX})
    assert result.returncode == 0, result.stderr
    assert orchestrator.requests[1][0] == "/v1/mediamtx/events/not-ready"


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_a_4xx_is_not_retried_and_fails(impl: str, orchestrator: FakeOrchestrator) -> None:
    _requires(impl)
    orchestrator.statuses = [422]
    result = run_hook(impl, "ready", MTX, orchestrator.url)
    assert result.returncode == 1
    assert len(orchestrator.requests) == 1
    assert "422" in result.stderr and "live/cam-1/in" in result.stderr


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_a_5xx_is_retried_once(impl: str, orchestrator: FakeOrchestrator) -> None:
    _requires(impl)
    orchestrator.statuses = [503, 202]
    result = run_hook(impl, "not-ready", MTX, orchestrator.url)
    assert result.returncode == 0, result.stderr
    assert len(orchestrator.requests) == 2
    first, second = (r[1]["X-Correlation-Id"] for r in orchestrator.requests)
    assert first == second  # one event, one correlation id


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_two_failures_exit_non_zero(impl: str, orchestrator: FakeOrchestrator) -> None:
    _requires(impl)
    orchestrator.statuses = [500, 500]
    result = run_hook(impl, "ready", MTX, orchestrator.url)
    assert result.returncode == 1 and len(orchestrator.requests) == 2


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_unreachable_orchestrator_fails_fast(impl: str) -> None:
    _requires(impl)
    started = time.monotonic()
    result = run_hook(impl, "ready", MTX, f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "not delivered" in result.stderr
    assert time.monotonic() - started < 8


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_a_hanging_orchestrator_times_out(impl: str, orchestrator: FakeOrchestrator) -> None:
    _requires(impl)
    orchestrator.hang = 3.0
    started = time.monotonic()
    result = run_hook(impl, "ready", MTX, orchestrator.url)
    assert result.returncode == 1
    assert time.monotonic() - started < 6  # two attempts of --timeout 1 plus the pause


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize(("args", "env"), [
    ((), MTX), (("bogus",), MTX), (("ready",), MTX), (("ready", "ftp://x"), MTX), (("ready", "http://127.0.0.1:9"), {}),
    (("ready", "http://127.0.0.1:9", "--timeout"), MTX), (("ready", "http://127.0.0.1:9", "--timeout", "soon"), MTX),
    (("ready", "http://127.0.0.1:9", "--timeout", "0"), MTX), (("ready", "http://127.0.0.1:9", "--wait", "1"), MTX)])
def test_misuse_exits_2(impl: str, args: tuple[str, ...], env: dict[str, str]) -> None:
    _requires(impl)
    result = subprocess.run([*IMPLEMENTATIONS[impl], *args], check=False, capture_output=True, text=True, timeout=20,
                            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO / "src"), **env})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip()


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_the_hook_token_is_sent_as_a_bearer_header_and_never_printed(impl: str, orchestrator: FakeOrchestrator) -> None:
    _requires(impl)
    token = "tok-5f8a2c-secret"
    result = run_hook(impl, "ready", {**MTX, "ORCH_HOOK_TOKEN": token}, orchestrator.url)
    assert result.returncode == 0, result.stderr
    ((_path, headers, _body),) = orchestrator.requests
    assert headers["Authorization"] == f"Bearer {token}"
    assert token not in result.stdout + result.stderr


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_without_a_token_no_authorization_header_is_sent(impl: str, orchestrator: FakeOrchestrator) -> None:
    _requires(impl)
    result = run_hook(impl, "ready", MTX, orchestrator.url)
    assert result.returncode == 0, result.stderr
    assert "Authorization" not in orchestrator.requests[0][1]
