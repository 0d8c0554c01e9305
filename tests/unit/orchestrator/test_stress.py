"""Hundreds of shuffled, duplicated, concurrent hook events for many streams, over real HTTP, with
real worker processes: never two workers for one stream (checked by the workers themselves with an
exclusive flock), and the orchestrator's view matches the processes that exist."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from pathlib import Path

import httpx

from livedub.orchestrator.service import OrchestratorService
from livedub.orchestrator.state import StreamState
from livedub.proc.child import pid_alive, wait_until

from .conftest import FakeMedia, orch_settings, standin_command

STREAMS = [f"stress-{i:02d}" for i in range(15)]


def storm(rng: random.Random) -> list[tuple[str, dict[str, str]]]:
    events: list[tuple[str, dict[str, str]]] = []
    for stream in STREAMS:
        for session in range(rng.randint(3, 5)):
            body = {"path": f"live/{stream}/in", "query": rng.choice(["", "lang=es", "lang=fr&mode=mock", "bad=1"]),
                    "sourceType": "rtmpConn", "sourceId": f"{stream}-{session}"}
            events += [("ready", body)] * rng.randint(1, 3)  # at-least-once delivery: duplicates
            events += [("not-ready", body)] * rng.randint(1, 2)
    rng.shuffle(events)  # any order, across and within streams
    return events


async def fire(url: str, events: list[tuple[str, dict[str, str]]]) -> list[int]:
    limits = httpx.Limits(max_connections=40)
    async with httpx.AsyncClient(base_url=url, timeout=20.0, limits=limits) as client:
        async def one(kind: str, body: dict[str, str]) -> int:
            response = await client.post(f"/v1/mediamtx/events/{kind}", json=body)
            return response.status_code

        return await asyncio.gather(*(one(kind, body) for kind, body in events))


def test_event_storm_never_gives_a_stream_two_workers(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(20240605)
    events = storm(rng)
    assert len(events) >= 200
    service = OrchestratorService(
        orch_settings(grace_period="50ms", max_workers=100,
                      worker_command=standin_command(tmp_path, "--stop-delay", "0.2"),
                      worker_stop_timeout="5s"),
        FakeMedia(), reconcile=False)
    running = serve(service)

    statuses = asyncio.run(fire(running.url, events))
    assert set(statuses) == {202}, sorted(set(statuses))

    # more storms while the earlier ones' workers start and stop
    for _ in range(3):
        statuses = asyncio.run(fire(running.url, storm(rng)))
        assert set(statuses) == {202}

    def settled() -> bool:
        return all(r.state in (StreamState.idle, StreamState.running, StreamState.degraded)
                   for r in service.supervisor.records())

    assert wait_until(settled, 60), [(r.stream_id, r.state) for r in service.supervisor.records()]
    duplicates = sorted(p.name for p in tmp_path.glob("*.DUPLICATE"))
    assert duplicates == [], duplicates
    running_pids = {r.stream_id: r.pid for r in service.supervisor.records() if r.state == StreamState.running}
    assert all(pid is not None and pid_alive(pid) for pid in running_pids.values())

    running.stop()
    log = (tmp_path / "events.log").read_text().split("\n")
    per_stream: dict[str, list[str]] = defaultdict(list)
    for line in filter(None, log):
        kind, stream, _pid = line.split()
        per_stream[stream].append(kind)
    starts = sum(kinds.count("start") for kinds in per_stream.values())
    assert starts >= len(STREAMS)
    for stream, kinds in per_stream.items():
        # one worker at a time: start, stop, start, stop... and nothing left running at the end
        assert kinds == ["start", "stop"] * (len(kinds) // 2), (stream, kinds)
    assert service.actor.processes() == []
