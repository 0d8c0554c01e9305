"""The nginx-rtmp hook bridge over HTTP, as nginx calls it (form-encoded ``on_publish``/``on_publish_done``):
ingest is always accepted and forwarded, publishing anything else is reserved to this machine (the
embedded backend's workers), since nginx-rtmp refuses a publisher whose ``on_publish`` gets a non-2xx."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from livedub.media.base import HookTarget
from livedub.media.nginx import HookBridge
from livedub.orchestrator.app import EventAccepted


class BusyOrchestrator:
    """Records the events it gets and answers 429, like an orchestrator at ORCH_MAX_WORKERS."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []
        self.authorization: list[str | None] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.events.append((self.path, json.loads(body)))
                recorder.authorization.append(self.headers.get("Authorization"))
                self.send_response(429)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, fmt: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[HookBridge, BusyOrchestrator]]:
    # shared by the tests here: stopping an http.server takes up to half a second
    orchestrator = BusyOrchestrator()
    orchestrator.thread.start()
    hook_bridge = HookBridge(HookTarget(orchestrator.url, token="bridge-token"), worker_addrs={"192.0.2.10"})
    hook_bridge.start()
    yield hook_bridge, orchestrator
    hook_bridge.stop()
    orchestrator.server.shutdown()
    orchestrator.server.server_close()


@pytest.fixture
def bridge(servers: tuple[HookBridge, BusyOrchestrator]) -> tuple[HookBridge, BusyOrchestrator]:
    servers[1].events.clear()
    return servers


def nginx_calls(bridge: HookBridge, callback: str, name: str, addr: str) -> int:
    form = {"call": callback.strip("/"), "addr": addr, "clientid": "7", "app": "live", "name": name, "type": "live"}
    return httpx.post(bridge.url + callback, data=form, timeout=10).status_code


@pytest.mark.parametrize(("callback", "name", "addr", "status"), [
    ("/publish", "cam1/out", "203.0.113.7", 403),  # someone else's publisher on a worker's output
    ("/publish", "cam1/out", "10.1.2.3", 403),  # embedded backend: workers run on this machine
    ("/publish", "cam1/out", "", 403),  # no address: not known to be local
    ("/publish", "cam1/other", "203.0.113.7", 400),  # not a path that exists
    ("/publish", "cam1/other", "127.0.0.1", 400),
    ("/publish", "cam1/out", "127.0.0.1", 200),  # our worker
    ("/publish", "cam1/out", "::1", 200),
    ("/publish", "cam1/out", "::ffff:127.0.0.1", 200),
    ("/publish", "cam1/out", "192.0.2.10", 200),  # MEDIA_HOST's address: our worker too
    ("/publish_done", "cam1/out", "203.0.113.7", 200),  # nothing to refuse when a publisher leaves
])
def test_only_local_publishers_may_publish_outside_ingest(bridge, callback: str, name: str, addr: str,
                                                          status: int) -> None:  # type: ignore[no-untyped-def]
    hook_bridge, orchestrator = bridge
    assert nginx_calls(hook_bridge, callback, name, addr) == status
    assert orchestrator.events == []  # outputs are never hook events


@pytest.mark.parametrize("addr", ["203.0.113.7", "127.0.0.1", ""])
def test_ingest_is_always_accepted_and_forwarded_even_when_the_orchestrator_refuses(bridge, addr: str) -> None:  # type: ignore[no-untyped-def]
    hook_bridge, orchestrator = bridge
    assert nginx_calls(hook_bridge, "/publish", "cam1/in?lang=es", addr) == 200
    assert nginx_calls(hook_bridge, "/publish_done", "cam1/in", addr) == 200
    assert orchestrator.authorization[-2:] == ["Bearer bridge-token"] * 2  # the shared hook token
    source = hook_bridge.source_prefix + "7"  # nginx's client id, kept apart from another nginx run's
    assert orchestrator.events == [
        ("/v1/mediamtx/events/ready", {"path": "live/cam1/in", "query": "lang=es", "sourceType": "rtmpConn",
                                       "sourceId": source}),
        ("/v1/mediamtx/events/not-ready", {"path": "live/cam1/in", "query": "", "sourceType": "rtmpConn",
                                           "sourceId": source}),
    ]


def test_each_bridge_gives_nginx_client_ids_its_own_prefix() -> None:
    first, second = HookBridge(HookTarget("http://127.0.0.1:9")), HookBridge(HookTarget("http://127.0.0.1:9"))
    try:
        assert first.source_prefix != second.source_prefix
    finally:
        for bridge in (first, second):
            bridge._server.server_close()


class FlakyOrchestrator(BusyOrchestrator):
    """Answers 503 (restarting) to the first ``failures`` requests, then 202."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.events.append((self.path, json.loads(body)))
                self.send_response(503 if len(recorder.events) <= recorder.failures else 202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, fmt: str, *args: object) -> None:
                return

        self.server.RequestHandlerClass = Handler


def test_an_orchestrator_that_is_restarting_gets_the_event_once_it_answers() -> None:
    orchestrator = FlakyOrchestrator(failures=2)
    orchestrator.thread.start()
    bridge = HookBridge(HookTarget(orchestrator.url), retry_for=5.0)
    try:
        answer = bridge.forward("/publish", {"path": "live/cam1/in", "query": "", "sourceType": "rtmpConn",
                                             "sourceId": "x-1"})
        assert answer is not None and answer.status_code < 500
        assert len(orchestrator.events) == 3
    finally:
        bridge._server.server_close()
        orchestrator.server.shutdown()
        orchestrator.server.server_close()


def test_an_unreachable_orchestrator_is_retried_for_a_bounded_time_then_ingest_is_accepted() -> None:
    import time

    bridge = HookBridge(HookTarget("http://127.0.0.1:9"), retry_for=0.6)  # nothing listens on port 9
    try:
        began = time.monotonic()
        assert bridge.handle("/publish", {"app": "live", "name": "cam1/in", "clientid": "3"}) == 200
        assert 0.3 <= time.monotonic() - began < 3.0
    finally:
        bridge._server.server_close()


def test_a_second_publisher_of_a_live_path_is_refused_and_its_events_never_forwarded(bridge) -> None:  # type: ignore[no-untyped-def]
    hook_bridge, orchestrator = bridge
    live: set[str] = set()
    hook_bridge.is_published = lambda path: path in live
    try:
        def call(callback: str, clientid: str) -> int:
            form = {"call": callback.strip("/"), "addr": "127.0.0.1", "clientid": clientid, "app": "live",
                    "name": "s6/in", "type": "live"}
            return httpx.post(hook_bridge.url + callback, data=form, timeout=10).status_code

        assert call("/publish", "1") == 200
        live.add("live/s6/in")
        assert call("/publish", "2") == 409  # nginx would say "Already publishing" after asking us
        assert call("/publish_done", "2") == 200  # nginx reports the refused one's end too
        assert [(path, event["sourceId"]) for path, event in orchestrator.events] == [
            ("/v1/mediamtx/events/ready", hook_bridge.source_prefix + "1")]
        assert call("/publish_done", "1") == 200  # the real publisher's end is forwarded
        live.clear()
        assert orchestrator.events[-1] == ("/v1/mediamtx/events/not-ready", {
            "path": "live/s6/in", "query": "", "sourceType": "rtmpConn", "sourceId": hook_bridge.source_prefix + "1"})
        # a publisher whose end was never reported (nginx says the path is free) does not block the next
        assert call("/publish", "3") == 200
        assert call("/publish", "4") == 200
        assert orchestrator.events[-1][1]["sourceId"] == hook_bridge.source_prefix + "4"
    finally:
        hook_bridge.is_published = None
        hook_bridge._publishers.clear()


@pytest.mark.parametrize("name", ["../in", "a b/in", "\u00fcn\u00ef/in", "x" * 250, "a/b/in", "/in", "cam1/in/x",
                                  "x" * 65 + "/in"])
@pytest.mark.parametrize("addr", ["203.0.113.7", "127.0.0.1"])
def test_invalid_stream_keys_are_refused_at_publish_time_and_never_forwarded(bridge, name: str, addr: str) -> None:  # type: ignore[no-untyped-def]
    hook_bridge, orchestrator = bridge
    assert nginx_calls(hook_bridge, "/publish", name, addr) == 400
    assert nginx_calls(hook_bridge, "/publish_done", name, addr) == 200
    assert orchestrator.events == []


class AcceptingOrchestrator(BusyOrchestrator):
    """Answers ``ready`` events 202 with the orchestrator's own answer model: ``result`` and
    ``workerStarting`` (a new worker is on its way; false for a duplicate or a worker kept)."""

    def __init__(self, result: str, worker_starting: bool = True) -> None:
        super().__init__()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.events.append((self.path, json.loads(body)))
                answer = json.dumps(EventAccepted(
                    correlationId="c1", streamId="held", event="ready", result=result,  # type: ignore[arg-type]
                    workerStarting=worker_starting).model_dump()).encode()
                self.send_response(202)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, fmt: str, *args: object) -> None:
                return

        self.server.RequestHandlerClass = Handler


@pytest.fixture
def accepting() -> Iterator[AcceptingOrchestrator]:
    orchestrator = AcceptingOrchestrator("accepted")
    orchestrator.thread.start()
    yield orchestrator
    orchestrator.server.shutdown()
    orchestrator.server.server_close()


PUBLISH = {"call": "publish", "addr": "127.0.0.1", "clientid": "7", "app": "live", "name": "held/in", "type": "live"}


def test_a_publisher_is_held_until_its_worker_reads_the_path(accepting: AcceptingOrchestrator) -> None:
    worker_reads = threading.Event()
    counted: list[str] = []

    def readers(path: str) -> int:
        counted.append(path)
        return 2 if worker_reads.is_set() else 1  # a viewer of the ingest path waited already

    bridge = HookBridge(HookTarget(accepting.url), readers=readers, hold_for=10.0)
    answered = threading.Event()
    caller = threading.Thread(target=lambda: (bridge.handle("/publish", dict(PUBLISH)), answered.set()))
    try:
        caller.start()
        assert not answered.wait(0.5)  # held: the worker is not there yet
        assert len(accepting.events) == 1 and set(counted) == {"live/held/in"}
        worker_reads.set()
        assert answered.wait(5)
    finally:
        caller.join(5)
        bridge._server.server_close()


def test_the_hold_is_bounded_and_the_publisher_then_goes_ahead(accepting: AcceptingOrchestrator) -> None:
    import time

    bridge = HookBridge(HookTarget(accepting.url), readers=lambda path: 0, hold_for=0.5)
    try:
        began = time.monotonic()
        assert bridge.handle("/publish", dict(PUBLISH)) == 200
        assert 0.5 <= time.monotonic() - began < 3.0
    finally:
        bridge._server.server_close()


@pytest.mark.parametrize(("result", "starting"), [("duplicate", False), ("stale", False), ("accepted", False)],
                         ids=["duplicate", "stale", "worker-kept"])
def test_no_hold_when_the_orchestrator_starts_no_worker(result: str, starting: bool) -> None:
    # worker-kept: a publisher back within the grace period; its worker already waits on the path
    orchestrator = AcceptingOrchestrator(result, worker_starting=starting)
    orchestrator.thread.start()
    import time

    bridge = HookBridge(HookTarget(orchestrator.url), readers=lambda path: 0, hold_for=30.0)
    try:
        began = time.monotonic()
        assert bridge.handle("/publish", dict(PUBLISH)) == 200
        assert time.monotonic() - began < 3.0 and len(orchestrator.events) == 1
    finally:
        bridge._server.server_close()
        orchestrator.server.shutdown()
        orchestrator.server.server_close()


@pytest.mark.parametrize(("still_published", "dropped"), [(False, ["live/cam1/out"]), (True, [])])
def test_an_output_s_viewers_are_ended_only_once_nobody_publishes_it(still_published: bool,
                                                                     dropped: list[str]) -> None:
    """on_publish_done also comes for a publisher nginx refused (from another machine): the worker's
    output is then still published and its viewers stay."""
    calls: list[str] = []

    def drop(path: str) -> int:
        calls.append(path)
        return 1

    bridge = HookBridge(HookTarget("http://127.0.0.1:9"), is_published=lambda path: still_published,
                        drop_readers=drop)
    try:
        form = {"call": "publish_done", "addr": "127.0.0.1", "clientid": "7", "app": "live", "name": "cam1/out"}
        assert bridge.handle("/publish_done", form) == 200
        for thread in threading.enumerate():
            if thread.name == "nginx-drop-readers":
                thread.join(5)
        assert calls == dropped
    finally:
        bridge._server.server_close()
