"""The actor with a fake clock: timers fire when the clock says so, not after real sleeps."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from livedub.config.stream_query import StreamSettings
from livedub.orchestrator.actor import ActorBusy, HookEvent, Reconcile, SupervisorActor, Tick
from livedub.orchestrator.state import StreamState
from livedub.orchestrator.supervisor import Admission, Supervisor, SupervisorPolicy
from livedub.proc.backoff import RestartPolicy

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


async def until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds. Launcher tasks and the actor's notifications are in-memory, so
    this takes a few event-loop turns; the (real-time) deadline only turns a hang into a clear failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() >= deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0)  # one event-loop turn; the loop ends on the condition, not on a count


def state_is(actor: SupervisorActor, stream_id: str, state: StreamState) -> Callable[[], bool]:
    def check() -> bool:
        rec = actor.supervisor.get(stream_id)
        return rec is not None and rec.state == state

    return check


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
        await until(state_is(actor, "a", StreamState.running), "the worker of a runs")
        assert launcher.streams() == ["a"]
        spec = launcher.specs[0]
        assert spec.env()["WORKER_TARGET_LANG"] == "es"
        assert spec.env()["WORKER_INPUT_URL"] == "rtsp://media:8554/live/a/in"
        assert actor.supervisor.get("a").state == StreamState.running

        await actor.submit(not_ready("a"))
        clock.now += 29.0
        await actor.submit(Tick())  # answered once the actor has applied it (and ticked the supervisor)
        assert actor.supervisor.get("a").state == StreamState.running  # grace not over: no stop decided
        assert launcher.streams() == ["a"]
        clock.now += 1.0
        await actor.submit(Tick())
        await until(state_is(actor, "a", StreamState.idle), "the worker of a stopped after the grace period")
        assert launcher.streams() == []
        await actor.close()

    asyncio.run(scenario())


def test_crash_backoff_and_degraded_with_fake_time() -> None:
    async def scenario() -> None:
        actor, launcher, clock = make_actor()
        actor.start()
        await actor.submit(ready("a"))
        await until(state_is(actor, "a", StreamState.running), "the worker of a runs")
        for _ in range(2):  # two crashes allowed in the window
            launcher.crash("a")
            await until(state_is(actor, "a", StreamState.backoff), "a is in backoff after its crash")
            rec = actor.supervisor.get("a")
            clock.now = rec.backoff_deadline
            await actor.submit(Tick())
            await until(state_is(actor, "a", StreamState.running), "a restarted after its backoff")
            assert launcher.streams() == ["a"]
        launcher.crash("a")
        await until(state_is(actor, "a", StreamState.degraded), "a is degraded after its third crash")
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
        await until(state_is(actor, "a", StreamState.backoff), "a failed start put a in backoff")
        rec = actor.supervisor.get("a")
        assert "fake start failure" in rec.last_error
        clock.now = rec.backoff_deadline
        await actor.submit(Tick())
        await until(state_is(actor, "a", StreamState.running), "a restarted after its backoff")
        assert launcher.streams() == ["a"]
        await actor.close()

    asyncio.run(scenario())


def test_reconcile_command_and_close_stops_everything() -> None:
    async def scenario() -> None:
        actor, launcher, clock = make_actor()
        actor.start()
        await actor.submit(Reconcile(frozenset({"x", "y"}), clock.now))
        await until(lambda: launcher.streams() == ["x", "y"], "reconciliation started x and y")
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
