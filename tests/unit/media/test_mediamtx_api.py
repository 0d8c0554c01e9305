"""The MediaMTX API client against a fake server that answers like MediaMTX's documented v3 API
(``apidocs/openapi.yaml``: PathList = {pageCount, itemCount, items: [Path]}, paged with
``page``/``itemsPerPage``; errors as {"error": ...}, newer releases {"status": "error", ...})."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from livedub.media.mediamtx_api import MediaMtxApi, MediaMtxApiError, PathInfo
from livedub.obs.metrics import free_port


def path_item(name: str, ready: bool, source_type: str | None = "rtmpConn", new_style: bool = False) -> dict:
    """One Path as MediaMTX documents it (older releases: ready/readyTime; newer: available/online)."""
    item = {
        "name": name,
        "confName": "~^live/[A-Za-z0-9_-]{1,64}/in$",
        "source": {"type": source_type, "id": f"{name}-conn"} if source_type else None,
        "tracks": ["H264", "MPEG-4 Audio"] if ready else [],
        "bytesReceived": 123456,
        "bytesSent": 0,
        "readers": [{"type": "rtspSession", "id": "r1"}] if ready else [],
    }
    if new_style:
        item.update({"available": ready, "availableTime": "2025-01-01T00:00:00Z" if ready else None,
                     "online": ready, "onlineTime": None, "ready": ready, "readyTime": None})
    else:
        item.update({"ready": ready, "readyTime": "2024-05-01T10:00:00.123Z" if ready else None})
    return item


class FakeMediaMtx:
    def __init__(self, items: list[dict], new_errors: bool = False) -> None:
        self.items = items
        self.new_errors = new_errors
        self.status_override: int | None = None
        self.requests: list[str] = []

    def handle(self, raw_path: str) -> tuple[int, object]:
        self.requests.append(raw_path)
        if self.status_override:
            return self.status_override, {"error": "internal error"}
        parts = urlsplit(raw_path)
        if parts.path == "/v3/paths/list":
            query = parse_qs(parts.query)
            page = int(query.get("page", ["0"])[0])
            per_page = int(query.get("itemsPerPage", ["100"])[0])
            page_count = (len(self.items) + per_page - 1) // per_page
            return 200, {"itemCount": len(self.items), "pageCount": page_count,
                         "items": self.items[page * per_page:(page + 1) * per_page]}
        if parts.path.startswith("/v3/paths/get/"):
            name = unquote(parts.path[len("/v3/paths/get/"):])
            for item in self.items:
                if item["name"] == name:
                    return 200, item
            return 404, ({"status": "error", "error": "path not found"} if self.new_errors
                         else {"error": "path not found"})
        return 404, {"error": "not found"}


@pytest.fixture
def fake_server() -> Iterator:
    servers: list[ThreadingHTTPServer] = []

    def start(fake: FakeMediaMtx) -> MediaMtxApi:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = fake.handle(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return MediaMtxApi(f"http://127.0.0.1:{server.server_address[1]}")

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("new_style", [False, True])
def test_live_ingest_ids_are_ready_ingest_paths_only(fake_server, new_style: bool) -> None:  # type: ignore[no-untyped-def]
    items = [
        path_item("live/cam-1/in", True, new_style=new_style),
        path_item("live/cam-1/out", True, new_style=new_style),  # a worker's output: not ingest
        path_item("live/cam-2/in", False, source_type=None, new_style=new_style),  # reader waiting, no publisher
        path_item("live/bad.id/in", True, new_style=new_style),  # not a valid stream id
        path_item("other/thing", True, new_style=new_style),
    ]
    api = fake_server(FakeMediaMtx(items))
    assert api.live_ingest_ids() == {"cam-1"}


def test_all_pages_are_read(fake_server) -> None:  # type: ignore[no-untyped-def]
    items = [path_item(f"live/s{i:03d}/in", True) for i in range(250)]
    fake = FakeMediaMtx(items)
    api = fake_server(fake)
    assert len(api.live_ingest_ids()) == 250
    assert [r.split("?")[1] for r in fake.requests] == [
        "page=0&itemsPerPage=100", "page=1&itemsPerPage=100", "page=2&itemsPerPage=100"]


def test_empty_server(fake_server) -> None:  # type: ignore[no-untyped-def]
    assert fake_server(FakeMediaMtx([])).list_paths() == []


@pytest.mark.parametrize("new_errors", [False, True])
def test_get_path_by_url_encoded_name(fake_server, new_errors: bool) -> None:  # type: ignore[no-untyped-def]
    fake = FakeMediaMtx([path_item("live/cam-1/in", True)], new_errors=new_errors)
    api = fake_server(fake)
    info = api.get_path("live/cam-1/in")
    assert info == PathInfo("live/cam-1/in", True, "rtmpConn", "live/cam-1/in-conn", 1, ("H264", "MPEG-4 Audio"))
    assert fake.requests[-1] == "/v3/paths/get/live%2Fcam-1%2Fin"
    assert api.get_path("live/nope/in") is None


def test_server_errors_are_retryable(fake_server) -> None:  # type: ignore[no-untyped-def]
    fake = FakeMediaMtx([])
    fake.status_override = 500
    with pytest.raises(MediaMtxApiError, match="answered 500: internal error") as info:
        fake_server(fake).list_paths()
    assert info.value.retryable


def test_auth_errors_are_not_retryable(fake_server) -> None:  # type: ignore[no-untyped-def]
    fake = FakeMediaMtx([])
    fake.status_override = 401
    with pytest.raises(MediaMtxApiError) as info:
        fake_server(fake).list_paths()
    assert not info.value.retryable


def test_unreachable_api_is_retryable() -> None:
    api = MediaMtxApi(f"http://127.0.0.1:{free_port()}", timeout=0.5)
    with pytest.raises(MediaMtxApiError, match="unreachable") as info:
        api.live_ingest_ids()
    assert info.value.retryable


def test_malformed_answer_is_reported(fake_server) -> None:  # type: ignore[no-untyped-def]
    fake = FakeMediaMtx([])
    fake.handle = lambda raw: (200, {"pageCount": 1})  # type: ignore[method-assign]
    with pytest.raises(MediaMtxApiError, match="no items list"):
        fake_server(fake).list_paths()
