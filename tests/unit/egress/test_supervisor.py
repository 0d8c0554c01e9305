"""Egress in the orchestrator (EGRESS_ENABLED=true): one forwarder process (the stand-in) per stream
with a worker, started and stopped with it; a crashing forwarder is restarted with backoff and
never touches the worker; the destination reaches it through the environment only."""

from __future__ import annotations

import itertools
import json
import logging
import shlex
import sys
from pathlib import Path

import httpx
import pytest

from livedub.config import load_settings
from livedub.config.settings import EgressSettings
from livedub.egress.destination import destination_scrubber
from livedub.egress.supervisor import scrub_line
from livedub.orchestrator.service import OrchestratorService, worker_launcher
from livedub.proc.child import pid_alive, wait_until
from livedub.proc.launcher import ProcessLauncher
from tests.unit.orchestrator.conftest import FakeLauncher, FakeMedia, orch_settings

STANDIN = Path(__file__).with_name("standin_forwarder.py")
SECRET = "rtmp://a.rtmp.example.com/live2/sk-abcd-efgh-ijkl"
EVENT = {"path": "live/cam1/in", "query": "", "sourceType": "rtmpConn", "sourceId": "c1"}


class EgressMedia(FakeMedia):
    def egress_source_url(self, stream_id: str) -> str:
        return f"rtsp://media:8554/live/{stream_id}/out"


def egress_settings(out: Path, *extra: str) -> EgressSettings:
    command = shlex.join([sys.executable, "-I", "-S", str(STANDIN), "--out", str(out), *extra])
    return load_settings(EgressSettings, env={}, overrides={
        "enabled": True, "url": SECRET, "forward_command": command, "retry_initial": "100ms",
        "retry_max": "200ms"})


def lines(out: Path) -> list[str]:
    path = out / "forwarders.log"
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def records(out: Path) -> list[dict]:
    return sorted((json.loads(p.read_text()) for p in out.glob("cam1.*.json")), key=lambda r: r["pid"])


def gauge(client: httpx.Client) -> str:
    return next(line for line in client.get("/metrics").text.splitlines()
                if line.startswith("orchestrator_active_forwarders "))


@pytest.fixture
def stack(serve, tmp_path: Path):  # type: ignore[no-untyped-def]
    def _stack(*standin_args: str) -> tuple[httpx.Client, FakeLauncher, OrchestratorService]:
        launcher = FakeLauncher()
        service = OrchestratorService(orch_settings(grace_period="200ms"), EgressMedia(), launcher=launcher,
                                      worker_env={}, egress=egress_settings(tmp_path, *standin_args))
        client = httpx.Client(base_url=serve(service).url, timeout=5)
        return client, launcher, service

    return _stack


def test_a_forwarder_runs_with_each_worker_and_stops_with_it(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, workers, _service = stack()
    assert gauge(client) == "orchestrator_active_forwarders 0.0"
    assert client.post("/v1/mediamtx/events/ready", json=EVENT).status_code == 202
    assert wait_until(lambda: lines(tmp_path) == ["start"] and gauge(client).endswith(" 1.0"), 10)
    (forwarder,) = records(tmp_path)
    assert forwarder["env"]["EGRESS_STREAM_ID"] == "cam1"
    assert forwarder["env"]["EGRESS_SOURCE_URL"] == "rtsp://media:8554/live/cam1/out"
    assert forwarder["env"]["EGRESS_URL"] == SECRET  # the environment carries the key ...
    assert "sk-abcd" not in " ".join(forwarder["argv"])  # ... never the command line
    assert workers.streams() == ["cam1"]

    # the worker crashes: its forwarder goes with it, and comes back with the restarted worker
    workers.crash("cam1")
    assert wait_until(lambda: lines(tmp_path) == ["start", "stop", "start"], 10), lines(tmp_path)
    assert wait_until(lambda: workers.streams() == ["cam1"], 10)

    # not-ready + grace: worker and forwarder stop
    assert client.post("/v1/mediamtx/events/not-ready", json=EVENT).status_code == 202
    assert wait_until(lambda: client.get("/v1/streams/cam1").json()["state"] == "idle", 10)
    assert wait_until(lambda: lines(tmp_path) == ["start", "stop", "start", "stop"], 10), lines(tmp_path)
    assert wait_until(lambda: gauge(client).endswith(" 0.0"), 5)
    assert not any(pid_alive(r["pid"]) for r in records(tmp_path))


def test_a_crashing_forwarder_is_restarted_and_never_touches_the_worker(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, workers, _service = stack("--exit-after", "0.2")
    assert client.post("/v1/mediamtx/events/ready", json=EVENT).status_code == 202
    assert wait_until(lambda: lines(tmp_path).count("crash") >= 3, 20), lines(tmp_path)
    view = client.get("/v1/streams/cam1").json()
    assert (view["state"], view["starts"], view["restarts"], view["failures"]) == ("running", 1, 0, 0)
    assert len(workers.specs) == 1 and workers.streams() == ["cam1"]
    # one at a time: every start follows the previous forwarder's end
    events = lines(tmp_path)
    assert all(a != b for a, b in itertools.pairwise(events)), events


def test_no_forwarder_output_carries_the_key(stack, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                             capfd: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """Whatever a forwarder prints (its JSON logs, a traceback or a GLib critical on stderr) reaches the
    orchestrator's output with the stream key replaced, also where no URL surrounds it."""
    key = SECRET.rsplit("/", 1)[-1]
    with caplog.at_level(logging.INFO, logger="livedub.proc.launcher"):
        client, _workers, _service = stack("--leak")
        assert client.post("/v1/mediamtx/events/ready", json=EVENT).status_code == 202
        assert wait_until(lambda: any(r.getMessage() == "leaked" for r in caplog.records), 10)
    forwarded = [r.getMessage() for r in caplog.records if getattr(r, "source", "") == "worker"]
    assert any("ValueError: bad key '***'" in m for m in forwarded), forwarded
    assert any("GLib-CRITICAL **: stream '***' failed" in m for m in forwarded), forwarded
    assert all(key not in m for m in forwarded)
    out = capfd.readouterr().out
    json_lines = [json.loads(line) for line in out.splitlines() if "rtmp2sink" in line]
    assert [line["message"] for line in json_lines] == ["rtmp2sink refused stream ***"]
    assert json_lines[0]["streamId"] == "cam1" and key not in out


def test_workers_never_inherit_the_egress_key() -> None:
    launcher = worker_launcher(orch_settings(), {"PATH": "/usr/bin", "EGRESS_URL": SECRET, "WORKER_STS_MODE": "mock"})
    assert isinstance(launcher, ProcessLauncher)
    # the orchestrator's grace period travels as the workers' reconnect window (docs/worker.md)
    assert launcher.base_env == {"PATH": "/usr/bin", "WORKER_STS_MODE": "mock", "WORKER_INPUT_RECONNECT": "0.2s"}


def test_egress_disabled_starts_no_forwarder(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = egress_settings(tmp_path).model_copy(update={"enabled": False})
    workers = FakeLauncher()
    service = OrchestratorService(orch_settings(), EgressMedia(), launcher=workers, worker_env={}, egress=settings)
    client = httpx.Client(base_url=serve(service).url, timeout=5)
    assert client.post("/v1/mediamtx/events/ready", json=EVENT).status_code == 202
    assert wait_until(lambda: workers.streams() == ["cam1"], 5)
    assert service.launcher is workers and lines(tmp_path) == []


def test_each_line_is_scrubbed_with_its_streams_key() -> None:
    scrub = destination_scrubber("rtmp://ingest:pw-secret@cdn.example.com/app/key-{streamId}", "cam7")
    json_line = '{"message": "push to key-cam7 failed", "detail": [1, {"auth": "pw-secret"}]}\n'
    assert json.loads(scrub_line(json_line, scrub)) == {"message": "push to *** failed",
                                                        "detail": [1, {"auth": "***"}]}
    assert scrub_line("rtmp2sink: key-cam7 rejected\n", scrub) == "rtmp2sink: *** rejected"
    assert scrub_line("[1, 2]", scrub) == "[1, 2]"  # JSON but not a log record: free text
    assert "key-cam8" in scrub_line("key-cam8", scrub)  # another stream's key is not this scrubber's
