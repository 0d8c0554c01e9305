"""Per-stream settings survive an orchestrator restart: remembered in <LIVEDUB_DATA_DIR>/orchestrator/
streams.json by the actor, loaded at start, used by reconciliation for live streams, pruned with the
streams the orchestrator forgets."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest

from livedub.config import load_settings
from livedub.config.settings import PathSettings
from livedub.config.stream_query import StreamSettings
from livedub.orchestrator.known_streams import StateWriter, StreamMemory, StreamsFile, state_file_path
from livedub.orchestrator.service import OrchestratorService
from livedub.orchestrator.state import KnownStream, StreamRecord
from livedub.orchestrator.supervisor import StartWorker, Supervisor, SupervisorPolicy
from livedub.proc.child import wait_until

from .conftest import FakeLauncher, FakeMedia, orch_settings

FR = StreamSettings({"target_lang": "fr", "tts_voice": "ff_siwis"})


def remembered(path: Path) -> dict[str, dict]:
    try:
        return json.loads(path.read_text())["streams"]
    except FileNotFoundError:
        return {}


def test_a_live_stream_restarts_with_its_settings_after_an_orchestrator_restart(serve, tmp_path: Path) -> None:
    paths = load_settings(PathSettings, env={}, overrides={"data_dir": str(tmp_path)})
    state_file = state_file_path(paths)
    assert state_file == tmp_path / "orchestrator" / "streams.json"
    media = FakeMedia()
    first = FakeLauncher()
    running = serve(OrchestratorService(orch_settings(), media, launcher=first, worker_env={}, paths=paths))
    with httpx.Client(base_url=running.url, timeout=10) as client:
        for stream, query in (("cam1", "lang=fr&voice=ff_siwis"), ("gone", "lang=de")):
            event = {"path": f"live/{stream}/in", "query": query, "sourceType": "rtmpConn", "sourceId": f"{stream}-7"}
            assert client.post("/v1/mediamtx/events/ready", json=event).status_code == 202
        media.live = {"cam1"}  # "gone" ends while the orchestrator is down
        # written when accepted, not at shutdown: a killed orchestrator keeps them too
        assert wait_until(lambda: set(remembered(state_file)) == {"cam1", "gone"}, 10)
    assert remembered(state_file)["cam1"] == {"settings": {"lang": "fr", "voice": "ff_siwis"},
                                              "sourceId": "cam1-7", "sourceType": "rtmpConn"}

    second = FakeLauncher()  # the restarted orchestrator knows no stream, only the file
    running = serve(OrchestratorService(orch_settings(), media, launcher=second, worker_env={}, paths=paths))
    with httpx.Client(base_url=running.url, timeout=10) as client:
        assert wait_until(lambda: client.get("/v1/streams/cam1").json().get("state") == "running", 10)
        view = client.get("/v1/streams/cam1").json()
        assert view["settings"] == {"lang": "fr", "voice": "ff_siwis"} and view["sourceId"] == "cam1-7"
        assert client.get("/v1/streams/gone").status_code == 404
    (spec,) = second.specs
    assert spec.env()["WORKER_TARGET_LANG"] == "fr" and spec.env()["WORKER_TTS_VOICE"] == "ff_siwis"
    # the first reconciliation found "gone" not live: it is no longer remembered
    assert wait_until(lambda: set(remembered(state_file)) == {"cam1"}, 10)


def test_reconcile_uses_remembered_settings_only_for_streams_without_a_record() -> None:
    sup = Supervisor(SupervisorPolicy(grace_period=5.0, max_workers=4))
    sup.ready("fresh", StreamSettings({"target_lang": "es"}), 0.0, source_id="9")
    sup.worker_exited("fresh", sup.get("fresh").run_id, 0, 0.5)  # its publisher is back: a new run starts
    known = {"cam1": KnownStream("cam1", FR, "7", "rtmpConn"),
             "fresh": KnownStream("fresh", FR, "1", "rtmpConn")}
    effects = sup.reconcile({"cam1", "other"}, observed_at=1.0, now=1.0, known=known)
    starts = {e.stream_id: e for e in effects if isinstance(e, StartWorker)}
    assert starts["cam1"].settings == FR and starts["other"].settings == StreamSettings()
    rec = sup.get("cam1")
    assert (rec.source_id, rec.source_type, rec.settings) == ("7", "rtmpConn", FR)
    assert sup.get("fresh").settings == StreamSettings({"target_lang": "es"})  # the record is fresher


def record(stream_id: str, settings: StreamSettings = FR, source_id: str = "1") -> StreamRecord:
    return StreamRecord(stream_id=stream_id, settings=settings, source_id=source_id, source_type="rtmpConn")


def test_memory_keeps_records_and_unsettled_restored_streams_and_prunes_the_rest() -> None:
    memory = StreamMemory([KnownStream("a", FR, "1"), KnownStream("b", FR, "2")])
    assert memory.snapshot([]) is None  # nothing changed since the file was read: no write
    memory.reconciled({"a"})  # b is not live: forgotten
    assert set(memory.snapshot([]) or {}) == {"a"}
    es = StreamSettings({"target_lang": "es"})
    snapshot = memory.snapshot([record("a", es, "5"), record("c")])
    assert snapshot is not None and snapshot["a"].settings == es and set(snapshot) == {"a", "c"}
    assert memory.restored() == {}  # the record replaced the restored entry
    assert memory.snapshot([record("a", es, "5"), record("c")]) is None
    assert set(memory.snapshot([record("c")]) or {}) == {"c"}  # a record the supervisor forgot is pruned


def test_file_round_trip_is_atomic_and_validates_again(tmp_path: Path) -> None:
    state = StreamsFile(tmp_path / "orchestrator" / "streams.json")
    state.save({"cam1": KnownStream("cam1", FR, "7", "rtmpConn"),
                "cam2": KnownStream("cam2", StreamSettings({"sts_mode": "bypass"}), "", "")})
    assert [p.name for p in state.path.parent.iterdir()] == ["streams.json"]  # no temp file left
    assert state.load({}) == [KnownStream("cam1", FR, "7", "rtmpConn"),
                              KnownStream("cam2", StreamSettings({"sts_mode": "bypass"}), "", "")]
    # an entry edited by hand (or settings that became invalid) is validated like a hook query
    data = json.loads(state.path.read_text())
    data["streams"]["cam1"]["settings"]["lang"] = "not a language"
    data["streams"]["../x"] = {"settings": {}}
    data["streams"]["cam3"] = "garbage"
    state.path.write_text(json.dumps(data))
    loaded = {k.stream_id: k for k in state.load({})}
    assert set(loaded) == {"cam1", "cam2"}
    assert loaded["cam1"].settings.overrides == {"tts_voice": "ff_siwis"}
    assert any("lang" in w for w in loaded["cam1"].settings.warnings)


@pytest.mark.parametrize("content", ["{not json", '{"version": 99, "streams": {}}', "[]"])
def test_an_unreadable_file_means_starting_without_memory(tmp_path: Path, content: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "streams.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING):
        assert StreamsFile(path).load({}) == []
    assert "orchestrator state file" in caplog.text


def test_writer_saves_the_newest_snapshot_and_survives_a_failing_disk(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    good = StreamsFile(tmp_path / "ok" / "streams.json")

    async def scenario() -> None:
        failing = StateWriter(StreamsFile(blocker / "streams.json").save)
        failing.submit({"a": KnownStream("a", FR)})
        await failing.flush()  # logged, not raised
        writer = StateWriter(good.save)
        for lang in ("es", "de", "fr"):
            writer.submit({"a": KnownStream("a", StreamSettings({"target_lang": lang}))})
        await writer.flush()

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
    assert "cannot write the orchestrator state file" in caplog.text
    assert remembered(good.path)["a"]["settings"] == {"lang": "fr"}
