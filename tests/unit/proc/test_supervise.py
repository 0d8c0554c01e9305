"""The child supervisor of `livedub up`, driven with a fake clock and stand-in children (no processes)."""

from __future__ import annotations

import pytest

from livedub.proc.supervise import ChildRestartPolicy, ChildSupervisor, RestartSchedule


class FakeChild:
    def __init__(self, name: str, fail_restarts: int = 0) -> None:
        self.name = name
        self.dead: str | None = None
        self.restarts = 0
        self.fail_restarts = fail_restarts

    def exit_status(self) -> str | None:
        return self.dead

    def restart(self) -> None:
        if self.fail_restarts:
            self.fail_restarts -= 1
            raise RuntimeError("port busy")
        self.restarts += 1
        self.dead = None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_delay_doubles_per_consecutive_failure_up_to_the_cap_and_resets_after_a_stable_run() -> None:
    schedule = RestartSchedule(ChildRestartPolicy(initial=1.0, maximum=5.0, stable_after=30.0), started_at=0.0)
    delays = []
    now = 0.0
    for _ in range(5):
        now += 1.0  # dies soon after each start
        delays.append(schedule.died(now, "exited with code 1"))
        now = schedule.restart_at
        schedule.restarted(now)
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert schedule.died(now + 31.0, "killed by SIGKILL") == 1.0  # ran 31 s: healthy again


def test_a_dead_child_is_restarted_after_its_delay_and_others_are_left_alone() -> None:
    clock = Clock()
    media, orch = FakeChild("media server"), FakeChild("orchestrator")
    restarted: list[str] = []
    sup = ChildSupervisor([media, orch], ChildRestartPolicy(initial=1.0), clock=clock, on_restart=restarted.append)
    sup.check_once()
    assert media.restarts == orch.restarts == 0
    media.dead = "killed by SIGKILL"
    clock.now = 10.0
    sup.check_once()
    (media_status, orch_status) = sup.status()
    assert not media_status.up and media_status.last_exit == "killed by SIGKILL" and media_status.restart_in == 1.0
    assert orch_status.up
    clock.now = 10.9
    sup.check_once()
    assert media.restarts == 0
    clock.now = 11.0
    sup.check_once()
    assert (media.restarts, orch.restarts, restarted) == (1, 0, ["media server"])
    assert sup.status()[0].up and sup.status()[0].restarts == 1


def test_a_failing_restart_is_retried_with_a_longer_delay_for_ever() -> None:
    clock = Clock()
    child = FakeChild("orchestrator", fail_restarts=3)
    sup = ChildSupervisor([child], ChildRestartPolicy(initial=1.0, maximum=4.0), clock=clock)
    child.dead = "exited with code 1"
    sup.check_once()  # found dead at 0: restart at 1
    delays = []
    for _ in range(3):
        clock.now = sup._schedules["orchestrator"].restart_at
        sup.check_once()  # the restart fails
        delays.append(sup.status()[0].restart_in)
    assert delays == [2.0, 4.0, 4.0]
    clock.now += 4.0
    sup.check_once()
    assert child.restarts == 1 and sup.status()[0].up


def test_halt_stops_restarting() -> None:
    clock = Clock()
    child = FakeChild("media server")
    sup = ChildSupervisor([child], ChildRestartPolicy(initial=0.5), clock=clock)
    sup.halt()
    child.dead = "exited with code 0"
    clock.now = 5.0
    sup.check_once()
    assert child.restarts == 0


@pytest.mark.timeout(10)
def test_the_thread_restarts_a_child_and_close_ends_it() -> None:
    child = FakeChild("media server")
    sup = ChildSupervisor([child], ChildRestartPolicy(initial=0.01), poll_interval=0.01)
    sup.start()
    child.dead = "killed by SIGKILL"
    from livedub.proc.child import wait_until

    assert wait_until(lambda: child.restarts == 1, 5)
    sup.close()
    assert sup._thread is None
