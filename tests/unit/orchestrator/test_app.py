"""The HTTP service over a real socket (uvicorn on a free port), with an in-memory launcher."""

from __future__ import annotations

import json

import httpx
import pytest

from livedub.orchestrator.service import OrchestratorService
from livedub.proc.child import wait_until
from livedub.proc.launcher import WorkerExit

from .conftest import FakeLauncher, FakeMedia, orch_settings

EVENT = {"path": "live/abc/in", "query": "lang=fr&voice=ff_siwis&mode=mock", "sourceType": "rtmpConn",
         "sourceId": "c1"}


@pytest.fixture
def stack(serve):  # type: ignore[no-untyped-def]
    def _stack(**settings: object) -> tuple[httpx.Client, FakeLauncher, FakeMedia, OrchestratorService]:
        launcher, media = FakeLauncher(), FakeMedia()
        service = OrchestratorService(orch_settings(**settings), media, launcher=launcher, worker_env={})
        running = serve(service)
        client = httpx.Client(base_url=running.url, timeout=5.0)
        return client, launcher, media, service

    return _stack


def stream(client: httpx.Client, stream_id: str) -> dict:
    response = client.get(f"/v1/streams/{stream_id}")
    assert response.status_code == 200, response.text
    return response.json()


def test_ready_answers_202_and_starts_one_worker_with_query_settings(stack) -> None:  # type: ignore[no-untyped-def]
    client, launcher, _media, _service = stack()
    response = client.post("/v1/mediamtx/events/ready", json=EVENT, headers={"X-Correlation-Id": "hook-42"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {"correlationId": "hook-42", "streamId": "abc", "event": "ready", "result": "accepted",
                    "detail": "", "workerStarting": True, "settingsWarnings": []}
    assert response.headers["x-correlation-id"] == "hook-42"
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    view = stream(client, "abc")
    assert view["pid"] == 1000 and view["where"] == "fake host"
    assert view["settings"] == {"lang": "fr", "voice": "ff_siwis", "mode": "mock"}
    (spec,) = launcher.specs
    env = spec.env()
    assert (env["WORKER_STREAM_ID"], env["WORKER_TARGET_LANG"], env["WORKER_TTS_VOICE"], env["WORKER_STS_MODE"]) \
        == ("abc", "fr", "ff_siwis", "mock")
    assert env["WORKER_OUTPUT_URL"] == "rtmp://media:1935/live/abc/out"
    again = client.post("/v1/mediamtx/events/ready", json=EVENT)
    assert again.status_code == 202 and again.json()["result"] == "duplicate"
    assert len(again.json()["correlationId"]) == 32  # generated when none is given
    listing = client.get("/v1/streams").json()
    assert listing["activeWorkers"] == 1 and [s["streamId"] for s in listing["streams"]] == ["abc"]
    assert launcher.violations == [] and len(launcher.specs) == 1


def test_bad_query_settings_fall_back_to_defaults(stack) -> None:  # type: ignore[no-untyped-def]
    client, launcher, _media, _service = stack()
    event = {**EVENT, "query": "lang=xx-!!&mode=turbo&pass=secret&colour=red"}
    response = client.post("/v1/mediamtx/events/ready", json=event)
    assert response.status_code == 202
    warnings = response.json()["settingsWarnings"]
    assert any("invalid lang" in w for w in warnings) and any("invalid mode" in w for w in warnings)
    assert any("'colour'" in w for w in warnings)
    assert not any("secret" in w for w in warnings)
    assert wait_until(lambda: len(launcher.specs) == 1, 5)
    assert "WORKER_TARGET_LANG" not in launcher.specs[0].env()


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (json.dumps({**EVENT, "path": "live/abc/out"}), 422, "not of the form live/<streamId>/in"),
        (json.dumps({**EVENT, "path": "live/a.b/in"}), 422, "must match [A-Za-z0-9_-]{1,64}"),
        (json.dumps({**EVENT, "path": "live/" + "x" * 65 + "/in"}), 422, "must match"),
        (json.dumps({**EVENT, "path": "live/../in"}), 422, "stream id '..' must match"),
        (json.dumps({"query": "lang=es"}), 422, "path: Field required"),
        (json.dumps({**EVENT, "path": 7}), 422, "path: Input should be a valid string"),
        ('{"path": "live/abc/in"', 400, "malformed JSON"),
        ("[1, 2]", 400, "expected a JSON object"),
        ('"live/abc/in"', 400, "expected a JSON object"),
        (b"\xff\xfe", 400, "malformed JSON"),
        ("{}" + " " * 70000, 413, "larger than 65536 bytes"),
        ("[" * 20000 + "]" * 20000, 400, "nested too deeply"),
    ],
)
def test_invalid_events_get_a_clear_4xx(stack, body: str | bytes, status: int, message: str) -> None:  # type: ignore[no-untyped-def]
    client, launcher, _media, service = stack()
    response = client.post("/v1/mediamtx/events/ready", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert response.json()["correlationId"]
    assert launcher.specs == [] and service.supervisor.records() == []


def test_oversized_query_and_ids_never_block_ingest(stack) -> None:  # type: ignore[no-untyped-def]
    client, launcher, _media, _service = stack()
    body = {**EVENT, "query": "lang=fr&" + "x=1&" * 2000, "sourceId": "s" * 1000}
    response = client.post("/v1/mediamtx/events/ready", json=body)
    assert response.status_code == 202, response.text
    assert any("ignored" in w for w in response.json()["settingsWarnings"])
    assert wait_until(lambda: launcher.streams() == ["abc"], 5)
    assert len(stream(client, "abc")["sourceId"]) == 256


def test_at_capacity_is_429(stack) -> None:  # type: ignore[no-untyped-def]
    client, launcher, _media, _service = stack(max_workers=1)
    assert client.post("/v1/mediamtx/events/ready", json=EVENT).status_code == 202
    other = {**EVENT, "path": "live/other/in", "sourceId": "c2"}
    response = client.post("/v1/mediamtx/events/ready", json=other)
    assert response.status_code == 429
    assert "ORCH_MAX_WORKERS" in response.json()["error"] and response.headers["retry-after"]
    assert wait_until(lambda: launcher.streams() == ["abc"], 5)


def test_not_ready_stops_after_grace_and_reconnect_keeps_worker(stack) -> None:  # type: ignore[no-untyped-def]
    client, launcher, _media, _service = stack(grace_period="300ms")
    first = client.post("/v1/mediamtx/events/ready", json=EVENT).json()
    assert (first["result"], first["workerStarting"]) == ("accepted", True)
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    run_id = stream(client, "abc")["runId"]
    # reconnect within the grace period: same worker, and the answer says no new one comes (the
    # nginx bridge then does not hold the publisher: the kept worker already waits on the path)
    assert client.post("/v1/mediamtx/events/not-ready", json=EVENT).json()["result"] == "accepted"
    assert stream(client, "abc")["graceRemainingSeconds"] is not None
    back = client.post("/v1/mediamtx/events/ready", json={**EVENT, "sourceId": "c2"}).json()
    assert (back["result"], back["workerStarting"]) == ("accepted", False)
    view = stream(client, "abc")
    assert view["graceRemainingSeconds"] is None and view["runId"] == run_id
    # leave for good: stopped once the grace period has passed
    client.post("/v1/mediamtx/events/not-ready", json={**EVENT, "sourceId": "c2"})
    assert wait_until(lambda: stream(client, "abc")["state"] == "idle", 5)
    view = stream(client, "abc")
    assert view["stops"] == 1 and view["starts"] == 1 and launcher.streams() == []


def test_crashing_worker_restarts_then_degrades_and_metrics_say_so(stack) -> None:  # type: ignore[no-untyped-def]
    client, launcher, _media, _service = stack(restart_max_in_window=2)
    client.post("/v1/mediamtx/events/ready", json=EVENT)
    for attempt in range(1, 3):
        assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
        launcher.crash("abc", code=1)
        assert wait_until(lambda a=attempt: stream(client, "abc")["restarts"] == a, 5)
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    launcher.crash("abc", code=1)
    assert wait_until(lambda: stream(client, "abc")["state"] == "degraded", 5)
    view = stream(client, "abc")
    assert "crashed 3 times" in view["degradedReason"] and view["failures"] == 3
    assert view["lastExitCode"] == 1
    metrics = client.get("/metrics").text
    assert 'orchestrator_stream_degraded{stream_id="abc"} 1.0' in metrics
    assert 'orchestrator_worker_failures_total{stream_id="abc"} 3.0' in metrics
    assert 'orchestrator_worker_restarts_total{stream_id="abc"} 2.0' in metrics
    assert 'orchestrator_hook_events_total{event="ready",result="accepted"} 1.0' in metrics
    assert "orchestrator_active_streams 0.0" in metrics


def test_a_worker_that_cannot_work_is_degraded_at_once_not_restarted(stack) -> None:  # type: ignore[no-untyped-def]
    client, launcher, _media, _service = stack(restart_max_in_window=5)
    client.post("/v1/mediamtx/events/ready", json=EVENT)
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    launcher.crash("abc", code=4)  # the publisher sends MP3 audio: restarting cannot help
    assert wait_until(lambda: stream(client, "abc")["state"] == "degraded", 5)
    view = stream(client, "abc")
    assert view["restarts"] == 0 and view["lastExitCode"] == 4
    assert "unsupported-input" in view["degradedReason"] and "publish again" in view["degradedReason"]
    # a new publisher (another connection) gets a fresh chance
    client.post("/v1/mediamtx/events/ready", json={**EVENT, "sourceId": "another-connection"})
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)


def test_reconcile_at_start_and_health_endpoints(stack) -> None:  # type: ignore[no-untyped-def]
    client, launcher, media, _service = stack(reconcile_interval="100ms", grace_period="100ms")
    assert client.get("/healthz").json() == {"status": "ok"}
    assert wait_until(lambda: client.get("/readyz").status_code == 200, 5)
    media.live = {"found"}
    assert wait_until(lambda: launcher.streams() == ["found"], 5)
    media.live = set()
    assert wait_until(lambda: launcher.streams() == [], 5)
    media.fail = OSError("connection refused")  # the media server died
    assert wait_until(lambda: client.get("/readyz").status_code == 503, 5)
    body = client.get("/readyz").json()
    assert body["status"] == "media-server-unreachable" and "connection refused" in body["error"]
    assert client.get("/healthz").status_code == 200  # alive: nothing to restart here
    assert wait_until(lambda: client.get("/readyz").json().get("reconcileError") is not None, 5)
    media.fail = None  # back
    assert wait_until(lambda: client.get("/readyz").status_code == 200, 5)


def test_reconciliation_leaves_a_publisher_the_media_server_is_still_holding_to_its_events(stack) -> None:  # type: ignore[no-untyped-def]
    """nginx's ingest hold: the publish hook comes first, the server lists the publisher only once its
    worker reads. A pass in between must not take the new worker for an orphan and stop it."""
    client, launcher, media, _service = stack(reconcile_interval="100ms", grace_period="100ms")
    media.publish_settle_s = 3.0
    assert client.post("/v1/mediamtx/events/ready", json=EVENT).status_code == 202
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    listed = media.listed
    assert wait_until(lambda: media.listed >= listed + 3, 5)  # three passes that do not list it
    assert stream(client, "abc")["state"] == "running" and launcher.streams() == ["abc"]
    # never listed past the settle time: an orphan after all, stopped after the grace period
    assert wait_until(lambda: launcher.streams() == [], 10)


def test_unknown_and_invalid_stream_ids(stack) -> None:  # type: ignore[no-untyped-def]
    client, *_ = stack()
    assert client.get("/v1/streams/nope").status_code == 404
    assert client.get("/v1/streams/bad.id").status_code == 422


def test_openapi_schema_documents_the_hook_endpoints(stack) -> None:  # type: ignore[no-untyped-def]
    client, *_ = stack()
    schema = client.get("/openapi.json").json()
    post = schema["paths"]["/v1/mediamtx/events/ready"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["path"] and set(body["properties"]) == {"path", "query", "sourceType", "sourceId"}
    assert {"202", "400", "413", "422", "429", "503"} <= set(post["responses"])
    assert "/v1/streams/{stream_id}" in schema["paths"] and "/metrics" in schema["paths"]


def test_reconciliation_never_makes_a_record_of_an_invalid_stream_id(stack) -> None:  # type: ignore[no-untyped-def]
    client, launcher, media, _service = stack(reconcile_interval="100ms")
    media.live = {"ok", "../x", "a b", "\u00fcn\u00ef", "x" * 65}  # a backend that let them through
    assert wait_until(lambda: launcher.streams() == ["ok"], 5)
    listed = media.listed
    assert wait_until(lambda: media.listed >= listed + 2, 5)  # two more passes: still nothing else
    assert [s["streamId"] for s in client.get("/v1/streams").json()["streams"]] == ["ok"]


def test_hook_events_need_the_token_when_one_is_set(stack) -> None:  # type: ignore[no-untyped-def]
    token = "s3cr3t-hook-token"
    client, launcher, _media, service = stack(hook_token=token)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}, {"Authorization": "Basic " + token}):
        response = client.post("/v1/mediamtx/events/ready", json=EVENT, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer" and token not in response.text
    assert launcher.specs == [] and service.supervisor.records() == []
    ok = client.post("/v1/mediamtx/events/ready", json=EVENT, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 202, ok.text
    assert wait_until(lambda: launcher.streams() == ["abc"], 5)
    assert "unauthorized" in client.get("/metrics").text
    assert token not in client.get("/v1/streams").text + client.get("/metrics").text


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx"])
def test_hook_events_are_json_only(stack, content_type: str | None) -> None:  # type: ignore[no-untyped-def]
    client, launcher, _media, service = stack()
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/v1/mediamtx/events/ready", content=json.dumps(EVENT), headers=headers)
    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["error"]
    assert launcher.specs == [] and service.supervisor.records() == []
    charset = client.post("/v1/mediamtx/events/ready", content=json.dumps(EVENT),
                          headers={"Content-Type": "application/json; charset=utf-8"})
    assert charset.status_code == 202


def test_the_workers_own_reason_reaches_the_api(stack) -> None:  # type: ignore[no-untyped-def]
    client, launcher, _media, _service = stack()
    client.post("/v1/mediamtx/events/ready", json=EVENT)
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    (handle,) = launcher.alive.values()
    launcher.alive.pop(handle.run_id)
    handle.on_exit(WorkerExit("abc", handle.run_id, 4, "input audio is MP3; the worker needs AAC"))
    assert wait_until(lambda: stream(client, "abc")["state"] == "degraded", 5)
    reason = stream(client, "abc")["degradedReason"]
    assert "unsupported-input" in reason and "input audio is MP3; the worker needs AAC" in reason


def test_readyz_counts_the_standby_workers_of_a_process_launcher(serve, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    from .conftest import standin_command

    def ready_body(warm: int) -> dict:
        service = OrchestratorService(orch_settings(worker_command=standin_command(tmp_path), warm_workers=warm),
                                      FakeMedia(), worker_env={"PATH": os.environ.get("PATH", "")})
        client = httpx.Client(base_url=serve(service).url, timeout=5.0)
        assert wait_until(lambda: client.get("/readyz").status_code == 200, 5)
        if warm:  # the stand-in reports its load done at once, as a bypass standby does
            assert wait_until(lambda: client.get("/readyz").json()["standbyWorkers"]["ready"] == warm, 10)
        return client.get("/readyz").json()

    assert ready_body(1)["standbyWorkers"] == {"loading": 0, "ready": 1, "failed": 0}
    assert "standbyWorkers" not in ready_body(0)


PUBLISH_KEY = "k3y-for-abc-0123456789"


@pytest.fixture
def keyed(stack, tmp_path):  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    keys.write_text(f"abc {PUBLISH_KEY}\n")
    return stack(publish_keys_file=str(keys))


def test_with_publish_keys_a_ready_event_needs_its_streams_key(keyed) -> None:  # type: ignore[no-untyped-def]
    client, launcher, _media, service = keyed
    for query in ("", "key=", "key=wrong-key-0000000000", f"lang=es&key={PUBLISH_KEY}X"):
        response = client.post("/v1/mediamtx/events/ready", json={**EVENT, "query": query})
        assert response.status_code == 403, (query, response.text)
        assert PUBLISH_KEY not in response.text
    assert launcher.specs == [] and service.supervisor.records() == []
    ok = client.post("/v1/mediamtx/events/ready", json={**EVENT, "query": f"lang=fr&key={PUBLISH_KEY}"})
    assert ok.status_code == 202 and ok.json()["settingsWarnings"] == [], ok.text  # key is not a setting
    assert wait_until(lambda: launcher.streams() == ["abc"], 5)
    assert launcher.specs[0].settings.overrides.get("target_lang") == "fr"
    not_ready = client.post("/v1/mediamtx/events/not-ready", json={**EVENT, "query": ""})
    assert not_ready.status_code == 202  # the end of a stream needs no key
    text = client.get("/v1/streams").text + client.get("/metrics").text
    assert PUBLISH_KEY not in text and 'result="refused_key"} 4.0' in text


def test_mediamtx_auth_refuses_only_an_ingest_publisher_without_its_key(keyed) -> None:  # type: ignore[no-untyped-def]
    client, _launcher, _media, _service = keyed

    def ask(**request: str) -> int:
        body = {"user": "", "password": "", "token": "", "ip": "127.0.0.1", "protocol": "rtmp", "id": None,
                "query": "", **request}
        return client.post("/v1/mediamtx/auth", json=body).status_code

    assert ask(action="publish", path="live/abc/in") == 401
    assert ask(action="publish", path="live/abc/in", query="key=nope-nope-nope-nope") == 401
    assert ask(action="publish", path="live/abc/in", query=f"key={PUBLISH_KEY}") == 200
    assert ask(action="publish", path="live/other/in", query=f"key={PUBLISH_KEY}") == 401
    assert ask(action="read", path="live/abc/out", ip="8.8.8.8") == 200  # viewers, from anywhere
    assert ask(action="publish", path="live/abc/out", ip="10.1.2.3") == 200  # the worker's output
    assert ask(action="publish", path="live/abc/out", ip="8.8.8.8") == 401  # ... from the internet
    assert ask(action="api", path="", ip="172.18.0.5") == 200 and ask(action="metrics", ip="8.8.8.8") == 401
    assert ask(action="api", ip="::ffff:8.8.8.8") == 401  # an IPv4-mapped public address is public
    assert client.post("/v1/mediamtx/auth", content=b"not json").status_code == 400


def test_mediamtx_auth_allows_everything_without_a_keys_file(stack) -> None:  # type: ignore[no-untyped-def]
    client, _launcher, _media, _service = stack()
    assert client.post("/v1/mediamtx/auth", json={"action": "publish", "path": "live/abc/in",
                                                  "ip": "8.8.8.8"}).status_code == 200


def test_the_console_page_its_player_and_its_feed_of_streams_with_watch_urls(stack) -> None:  # type: ignore[no-untyped-def]
    client, _launcher, media, _service = stack()
    media.watch_urls = lambda stream_id: {"hls": f"http://media:8888/hls/{stream_id}/out/index.m3u8"}  # type: ignore[attr-defined]
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<title>livedub console</title>" in page.text and 'new EventSource("/v1/events")' in page.text
    player = client.get("/console/hls.min.js")
    assert player.status_code == 200 and player.headers["content-type"].startswith("text/javascript")
    assert client.post("/v1/mediamtx/events/ready", json=EVENT).status_code == 202
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    with client.stream("GET", "/v1/events") as feed:
        assert feed.headers["content-type"].startswith("text/event-stream")
        first = next(line for line in feed.iter_lines() if line.startswith("data: "))
    snapshot = json.loads(first[len("data: "):])
    (view,) = snapshot["streams"]
    assert view["streamId"] == "abc" and view["state"] == "running"
    assert view["watch"] == {"hls": "http://media:8888/hls/abc/out/index.m3u8"}


def test_the_operator_stops_a_stream_that_stays_stopped_then_restarts_it(stack) -> None:  # type: ignore[no-untyped-def]
    client, launcher, media, service = stack(reconcile_interval="100ms")
    media.live = {"abc"}
    client.post("/v1/mediamtx/events/ready", json=EVENT)
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    first_run = stream(client, "abc")["runId"]

    stopped = client.post("/v1/streams/abc/stop")
    assert stopped.status_code == 202 and stopped.json()["result"] == "accepted", stopped.text
    assert wait_until(lambda: stream(client, "abc")["state"] == "idle", 5)
    assert stream(client, "abc")["stoppedByOperator"] is True and launcher.streams() == []
    # the publisher is still there: neither a repeated ready nor reconciliation brings the worker back
    again = client.post("/v1/mediamtx/events/ready", json=EVENT).json()
    assert again["result"] == "duplicate" and "operator" in again["detail"]
    passes = service.reconciler.completed
    assert wait_until(lambda: service.reconciler.completed >= passes + 2, 5)
    assert stream(client, "abc")["state"] == "idle" and launcher.streams() == []

    restarted = client.post("/v1/streams/abc/restart")
    assert restarted.status_code == 202 and restarted.json()["result"] == "accepted", restarted.text
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    view = stream(client, "abc")
    assert view["runId"] != first_run and view["stoppedByOperator"] is False and view["restarts"] == 0

    # a restart of a running stream: its worker is replaced, never two at once
    second_run = view["runId"]
    assert client.post("/v1/streams/abc/restart").status_code == 202
    assert wait_until(lambda: stream(client, "abc")["state"] == "running"
                      and stream(client, "abc")["runId"] != second_run, 5)
    assert launcher.violations == [] and launcher.streams() == ["abc"]
    assert client.post("/v1/streams/nope/stop").status_code == 404


def test_a_new_publisher_ends_the_operators_stop(stack) -> None:  # type: ignore[no-untyped-def]
    client, _launcher, _media, _service = stack()
    client.post("/v1/mediamtx/events/ready", json=EVENT)
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    client.post("/v1/streams/abc/stop")
    assert wait_until(lambda: stream(client, "abc")["state"] == "idle", 5)
    back = client.post("/v1/mediamtx/events/ready", json={**EVENT, "sourceId": "c9"}).json()
    assert back["result"] == "accepted" and back["workerStarting"] is True
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)


def test_a_degraded_stream_restarts_on_the_operators_word(stack) -> None:  # type: ignore[no-untyped-def]
    client, launcher, _media, _service = stack(restart_max_in_window=1)
    client.post("/v1/mediamtx/events/ready", json=EVENT)
    for _ in range(2):
        assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
        launcher.crash("abc", code=1)
    assert wait_until(lambda: stream(client, "abc")["state"] == "degraded", 5)
    assert client.post("/v1/streams/abc/restart").status_code == 202
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    assert stream(client, "abc")["degradedReason"] is None


def test_operator_endpoints_need_the_control_token_when_one_is_set(stack) -> None:  # type: ignore[no-untyped-def]
    token = "c0ntrol-t0ken"
    client, _launcher, _media, _service = stack(control_token=token)
    client.post("/v1/mediamtx/events/ready", json=EVENT)
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = client.post("/v1/streams/abc/stop", headers=headers)
        assert response.status_code == 401 and token not in response.text
    assert stream(client, "abc")["state"] == "running"
    ok = client.post("/v1/streams/abc/stop", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 202


def test_livedub_streams_stop_and_restart_call_the_same_endpoints(stack) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from livedub.cli.main import cli

    client, _launcher, _media, _service = stack()
    client.post("/v1/mediamtx/events/ready", json=EVENT)
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    url = str(client.base_url)
    stopped = CliRunner().invoke(cli, ["streams", "stop", "abc", "--url", url])
    assert stopped.exit_code == 0 and "abc: stop accepted" in stopped.output, stopped.output
    assert wait_until(lambda: stream(client, "abc")["stoppedByOperator"] and stream(client, "abc")["state"] == "idle", 5)
    listed = CliRunner().invoke(cli, ["streams", "list", "--url", url])
    assert "stopped by the operator" in listed.output, listed.output
    assert CliRunner().invoke(cli, ["streams", "restart", "abc", "--url", url]).exit_code == 0
    assert wait_until(lambda: stream(client, "abc")["state"] == "running", 5)
    unknown = CliRunner().invoke(cli, ["streams", "stop", "nope", "--url", url])
    assert unknown.exit_code == 1 and "unknown stream" in unknown.output


def test_without_the_embedded_nginx_there_is_no_caption_track(stack) -> None:  # type: ignore[no-untyped-def]
    client, _launcher, _media, _service = stack()
    for path in ("index.m3u8", "captions-translation.m3u8", "captions-transcript/3.vtt"):
        response = client.get(f"/v1/streams/abc/hls/{path}")
        assert response.status_code == 404 and "embedded nginx" in response.json()["error"], (path, response.text)
    assert client.get("/v1/streams/abc/hls/captions-other.m3u8").status_code == 422  # only the two tracks
    assert client.get("/v1/streams/abc/hls/captions-transcript/..%2Fx.vtt").status_code in (404, 422)
