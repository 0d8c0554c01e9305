"""The actor with a fake clock: timers fire when the clock says so, not after real sleeps."""

from __future__ import annotations

import asyncio
import random

from livedub.orchestrator.actor import ActorBusy, HookEvent, Reconcile, SupervisorActor, Tick
from livedub.orchestrator.backoff import RestartPolicy
from livedub.orchestrator.query import StreamSettings
from livedub.orchestrator.state import StreamState
from livedub.orchestrator.supervisor import Admission, Supervisor, SupervisorPolicy

from .conftest import FakeLauncher, FakeMedia


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_actor(grace: float = 30.0, max_workers: int = 4) -> tuple[SupervisorActor, FakeLauncher, FakeClock]:
    clock = FakeClock()
    launcher = FakeLauncher()
    sup = Supervisor(SupervisorPolicy(grace, max_workers, RestartPolicy(1.0, 8.0, 2, 60.0)), rng=random.Random(3))
    return SupervisorActor(sup, launcher, FakeMedia(), clock=clock), launcher, clock


async def settle() -> None:
    """Let launcher tasks and their notifications run (they are all in-memory and immediate)."""
    for _ in range(5):
        await asyncio.sleep(0)


def ready(stream: str, source: str = "s1", lang: str = "es") -> HookEvent:
    return HookEvent("ready", stream, StreamSettings({"target_lang": lang}), source, "rtmpConn", "corr-1")


def not_ready(stream: str, source: str = "s1") -> HookEvent:
    return HookEvent("not-ready", stream, StreamSettings(), source, "rtmpConn", "corr-2")


def test_grace_period_follows_the_injected_clock() -> None:
    async def scenario() -> None:
        actor, launcher, clock = make_actor(grace=30.0)
        actor.start()
        decision = await actor.submit(ready("a"))
        assert decision.admission == Admission.accepted
        await actor.submit(Tick())
        await settle()
        assert launcher.streams() == ["a"]
        spec = launcher.specs[0]
        assert spec.env()["WORKER_TARGET_LANG"] == "es"
        assert spec.env()["WORKER_INPUT_URL"] == "rtsp://media:8554/live/a/in"
        assert actor.supervisor.get("a").state == StreamState.running

        await actor.submit(not_ready("a"))
        clock.now += 29.0
        await actor.submit(Tick())
        await settle()
        assert launcher.streams() == ["a"]
        clock.now += 1.0
        await actor.submit(Tick())
        await settle()
        assert launcher.streams() == []
        assert actor.supervisor.get("a").state == StreamState.idle
        await actor.close()

    asyncio.run(scenario())


def test_crash_backoff_and_degraded_with_fake_time() -> None:
    async def scenario() -> None:
        actor, launcher, clock = make_actor()
        actor.start()
        await actor.submit(ready("a"))
        await settle()
        for _ in range(2):  # two crashes allowed in the window
            launcher.crash("a")
            await settle()
            rec = actor.supervisor.get("a")
            assert rec.state == StreamState.backoff
            clock.now = rec.backoff_deadline
            await actor.submit(Tick())
            await settle()
            assert launcher.streams() == ["a"]
        launcher.crash("a")
        await settle()
        rec = actor.supervisor.get("a")
        assert rec.state == StreamState.degraded and "crashed 3 times" in rec.degraded_reason
        assert launcher.violations == []
        await actor.close()

    asyncio.run(scenario())


def test_failed_start_is_restarted() -> None:
    async def scenario() -> None:
        actor, launcher, clock = make_actor()
        launcher.fail_starts = 1
        actor.start()
        await actor.submit(ready("a"))
        await settle()
        rec = actor.supervisor.get("a")
        assert rec.state == StreamState.backoff and "fake start failure" in rec.last_error
        clock.now = rec.backoff_deadline
        await actor.submit(Tick())
        await settle()
        assert launcher.streams() == ["a"]
        await actor.close()

    asyncio.run(scenario())


def test_reconcile_command_and_close_stops_everything() -> None:
    async def scenario() -> None:
        actor, launcher, clock = make_actor()
        actor.start()
        await actor.submit(Reconcile(frozenset({"x", "y"}), clock.now))
        await settle()
        assert launcher.streams() == ["x", "y"]
        await actor.close()
        assert launcher.streams() == []
        try:
            await actor.submit(ready("z"))
        except ActorBusy:
            pass
        else:
            raise AssertionError("a closed actor accepted an event")

    asyncio.run(scenario())


def test_queue_full_is_busy_not_blocking() -> None:
    async def scenario() -> None:
        actor, _launcher, _clock = make_actor()
        actor.queue_size = 2
        actor.start()
        pending = [asyncio.ensure_future(actor.submit(ready(f"s{i}"))) for i in range(5)]
        results = await asyncio.gather(*pending, return_exceptions=True)
        busy = [r for r in results if isinstance(r, ActorBusy)]
        assert len(busy) == 3
        await actor.close()

    asyncio.run(scenario())
