"""The body of a stream's Ray actor as a plain object, with the stand-in worker as its process:
start, adopt (same worker asked for again by a new run), replace (other settings), exits, stop."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

import pytest

from livedub.cluster.actor import ORPHANED, RunRequest, StreamWorkerActor, actor_name, stream_of
from livedub.proc.child import pid_alive
from tests.unit.orchestrator.conftest import standin_command, standin_events, wait_for_standin_events

STREAM = "cam-ray"


def request(tmp_path: Path, run_id: str, *extra: str, **env: str) -> dict[str, object]:
    return RunRequest(STREAM, run_id, {"WORKER_STREAM_ID": STREAM, "WORKER_RUN_ID": run_id, **env},
                      shlex.split(standin_command(tmp_path, *extra)), stop_timeout=5).to_dict()


def actor() -> StreamWorkerActor:
    return StreamWorkerActor(STREAM, node_id=lambda: "node-1")


def test_names_round_trip_and_foreign_actors_are_not_workers() -> None:
    assert stream_of(actor_name("cam-1")) == "cam-1"
    assert stream_of("some-other-actor") is None
    assert stream_of(actor_name("")) is None


def test_a_request_survives_the_trip_as_a_dict() -> None:
    original = RunRequest("s", "r1", {"A": "1"}, ["python", "-m", "x"], 7.5)
    assert RunRequest.from_dict(original.to_dict()) == original
    with pytest.raises(TypeError):
        RunRequest.from_dict({"stream_id": "s", "run_id": "r", "env": ["A=1"]})


def test_same_worker_ignores_only_the_run_id() -> None:
    base = RunRequest("s", "r1", {"WORKER_RUN_ID": "r1", "WORKER_TARGET_LANG": "es"}, ["w"])
    assert base.same_worker(RunRequest("s", "r2", {"WORKER_RUN_ID": "r2", "WORKER_TARGET_LANG": "es"}, ["w"]))
    assert not base.same_worker(RunRequest("s", "r2", {"WORKER_RUN_ID": "r2", "WORKER_TARGET_LANG": "fr"}, ["w"]))
    assert not base.same_worker(RunRequest("s", "r2", {"WORKER_RUN_ID": "r2", "WORKER_TARGET_LANG": "es"}, ["v"]))


def test_start_adopt_then_stop(tmp_path: Path) -> None:
    async def scenario() -> None:
        body = actor()
        first = await body.run(request(tmp_path, "run-1"))
        assert first["adopted"] is False and first["node"] == "node-1" and isinstance(first["pid"], int)
        assert await asyncio.to_thread(wait_for_standin_events, tmp_path, ["start"])

        # a restarted orchestrator asks again for the same worker under a new run id: adopted
        again = await body.run(request(tmp_path, "run-2"))
        assert (again["adopted"], again["pid"], again["workerRunId"]) == (True, first["pid"], "run-1")
        info = await body.info()
        assert info["runIds"] == ["run-1", "run-2"] and info["running"] is True
        # the same run asked twice (a retried call) is neither adopted nor restarted
        assert (await body.run(request(tmp_path, "run-2")))["adopted"] is False

        exit_ = await body.stop("run-2")
        assert exit_ == {"exitCode": 0, "error": None, "unknown": False}
        assert standin_events(tmp_path) == ["start", "stop"] and not pid_alive(first["pid"])
        assert (await body.wait("run-1"))["exitCode"] == 0  # every run id of that process sees the exit
        assert (await body.wait("run-9"))["unknown"] is True
        assert (await body.info())["running"] is False

    asyncio.run(scenario())


def test_other_settings_replace_the_running_worker(tmp_path: Path) -> None:
    async def scenario() -> None:
        body = actor()
        first = await body.run(request(tmp_path, "run-1", WORKER_TARGET_LANG="es"))
        assert await asyncio.to_thread(wait_for_standin_events, tmp_path, ["start"])
        second = await body.run(request(tmp_path, "run-2", WORKER_TARGET_LANG="fr"))
        assert second["adopted"] is False and second["pid"] != first["pid"]
        assert not pid_alive(first["pid"])
        assert (await body.wait("run-1"))["unknown"] is True  # that run is over and forgotten
        assert await asyncio.to_thread(wait_for_standin_events, tmp_path, ["start", "stop", "start"])
        await body.stop("run-2")
        assert list(tmp_path.glob("*.DUPLICATE")) == []

    asyncio.run(scenario())


def test_a_crash_is_waited_for_with_its_code_and_a_new_run_starts_afresh(tmp_path: Path) -> None:
    async def scenario() -> None:
        body = actor()
        await body.run(request(tmp_path, "run-1", "--exit-after", "0.3", "--exit-code", "7"))
        exit_ = await asyncio.wait_for(body.wait("run-1"), 20)
        assert exit_["exitCode"] == 7 and "code 7" in str(exit_["error"])
        # the same request after the crash: a new process, not an adoption of the dead one
        again = await body.run(request(tmp_path, "run-2"))
        assert again["adopted"] is False and again["exited"] is False
        await body.stop("run-2")

    asyncio.run(scenario())


def test_a_request_for_another_stream_is_refused(tmp_path: Path) -> None:
    wrong = {**request(tmp_path, "run-1"), "stream_id": "other"}
    with pytest.raises(ValueError, match="other"):
        asyncio.run(actor().run(wrong))


def test_a_worker_whose_raylet_is_gone_is_stopped_before_the_actor_ends(tmp_path: Path) -> None:
    parent = [100]
    ended: list[int] = []

    async def scenario() -> None:
        body = StreamWorkerActor(STREAM, node_id=lambda: "node-1", parent_pid=lambda: parent[0],
                                 end_process=ended.append, parent_check_s=0.02)
        first = await body.run(request(tmp_path, "run-1"))
        assert await asyncio.to_thread(wait_for_standin_events, tmp_path, ["start"])
        assert body._fence is not None and not body._fence.done()
        parent[0] = 1  # the raylet died: the actor was re-parented
        await asyncio.wait_for(body._fence, 20)
        assert ended == [1] and not pid_alive(first["pid"])
        # reported as a lost worker (the orchestrator restarts it with backoff), not as a clean end
        assert await body.wait("run-1") == {"exitCode": None, "error": ORPHANED, "unknown": False}
        assert standin_events(tmp_path) == ["start", "stop"]

    asyncio.run(scenario())
