"""The pure supervisor, driven with explicit times (a fake clock): no processes, no sleeps."""

from __future__ import annotations

import itertools
import random

import pytest

from livedub.config.stream_query import StreamSettings
from livedub.orchestrator.state import StreamState
from livedub.orchestrator.supervisor import Admission, StartWorker, StopWorker, Supervisor, SupervisorPolicy
from livedub.proc.backoff import CrashHistory, RestartPolicy

S = StreamState
ES = StreamSettings({"target_lang": "es"})


def make(grace: float = 30.0, max_workers: int = 4, initial: float = 1.0, cap: int = 3,
         window: float = 600.0) -> Supervisor:
    counter = itertools.count(1)
    return Supervisor(SupervisorPolicy(grace, max_workers, RestartPolicy(initial, 60.0, cap, window)),
                      rng=random.Random(7), new_run_id=lambda: f"run{next(counter)}")


def start_running(sup: Supervisor, stream: str = "a", now: float = 0.0, source: str = "s1") -> str:
    decision = sup.ready(stream, ES, now, source_id=source)
    (start,) = decision.effects
    assert isinstance(start, StartWorker)
    sup.worker_started(stream, start.run_id, 100, now)
    return start.run_id


def test_ready_starts_one_worker_and_duplicates_do_nothing() -> None:
    sup = make()
    decision = sup.ready("a", ES, 0.0, source_id="s1")
    assert decision.admission == Admission.accepted
    (start,) = decision.effects
    assert start == StartWorker("a", "run1", ES, False, "")
    assert sup.get("a").state == S.starting
    again = sup.ready("a", ES, 0.1, source_id="s1")
    assert again.effects == () and again.admission == Admission.duplicate
    sup.worker_started("a", "run1", 42, 0.2)
    rec = sup.get("a")
    assert (rec.state, rec.pid, rec.starts) == (S.running, 42, 1)
    assert rec.settings.public() == {"lang": "es"}


def test_not_ready_stops_only_after_the_grace_period() -> None:
    sup = make(grace=30.0)
    run = start_running(sup)
    assert sup.not_ready("a", 10.0, source_id="s1").effects == ()
    assert sup.get("a").grace_deadline == 40.0
    assert sup.next_deadline() == 40.0
    assert sup.tick(39.9) == ()
    (stop,) = sup.tick(40.0)
    assert isinstance(stop, StopWorker) and stop.run_id == run
    assert sup.get("a").state == S.stopping
    assert sup.worker_exited("a", run, 0, 41.0) == ()
    rec = sup.get("a")
    assert (rec.state, rec.stops, rec.run_id, rec.failures) == (S.idle, 1, None, 0)


def test_duplicate_not_ready_does_not_extend_the_grace_period() -> None:
    sup = make(grace=30.0)
    start_running(sup)
    sup.not_ready("a", 10.0, source_id="s1")
    sup.not_ready("a", 25.0, source_id="s1")
    assert sup.get("a").grace_deadline == 40.0


def test_reconnect_within_grace_keeps_the_same_worker() -> None:
    sup = make(grace=30.0)
    run = start_running(sup, source="s1")
    sup.not_ready("a", 10.0, source_id="s1")
    decision = sup.ready("a", ES, 20.0, source_id="s2")
    assert decision.effects == () and "grace" in decision.detail
    assert sup.tick(100.0) == ()
    rec = sup.get("a")
    assert (rec.state, rec.run_id, rec.starts) == (S.running, run, 1)


def test_ready_while_stopping_starts_a_new_worker_only_after_the_old_one_exits() -> None:
    sup = make(grace=0.0)
    run = start_running(sup, source="s1")
    (stop,) = sup.not_ready("a", 1.0, source_id="s1").effects  # grace 0: stop at once
    assert isinstance(stop, StopWorker)
    other = StreamSettings({"target_lang": "fr"})
    assert sup.ready("a", other, 1.5, source_id="s2").effects == ()
    assert sup.get("a").state == S.stopping
    (start,) = sup.worker_exited("a", run, 0, 2.0)
    assert isinstance(start, StartWorker) and start.run_id != run and start.settings == other


def test_crash_restarts_with_growing_jittered_backoff_then_degrades() -> None:
    sup = make(initial=1.0, cap=3)
    run = start_running(sup)
    now = 0.0
    delays = []
    for attempt in range(1, 4):
        now += 5.0
        assert sup.worker_exited("a", run, 1, now) == ()
        rec = sup.get("a")
        assert rec.state == S.backoff and rec.failures == attempt
        delay = rec.backoff_deadline - now
        base = min(60.0, 2 ** (attempt - 1))
        assert base / 2 <= delay <= base
        delays.append(delay)
        assert sup.tick(rec.backoff_deadline - 0.001) == ()
        (start,) = sup.tick(rec.backoff_deadline)
        assert start.restart and sup.get("a").restarts == attempt
        run = start.run_id
        sup.worker_started("a", run, 100 + attempt, now)
    assert delays[2] > delays[0]
    assert sup.worker_exited("a", run, 1, now + 5.0) == ()
    rec = sup.get("a")
    assert rec.state == S.degraded
    assert "crashed 4 times" in rec.degraded_reason and "code 1" in rec.degraded_reason
    # a duplicate ready of the same publisher does not revive it, a new publisher does
    assert sup.ready("a", ES, now + 6, source_id="s1").admission == Admission.duplicate
    (start,) = sup.ready("a", ES, now + 7, source_id="s9").effects
    assert isinstance(start, StartWorker) and sup.get("a").degraded_reason is None


def test_crashes_outside_the_window_do_not_count() -> None:
    sup = make(cap=1, window=60.0)
    run = start_running(sup)
    sup.worker_exited("a", run, 1, 10.0)
    (start,) = sup.tick(sup.get("a").backoff_deadline)
    sup.worker_started("a", start.run_id, 5, 12.0)
    sup.worker_exited("a", start.run_id, 1, 100.0)  # the first crash left the window
    assert sup.get("a").state == S.backoff


def test_crash_after_not_ready_does_not_restart() -> None:
    sup = make()
    run = start_running(sup)
    sup.not_ready("a", 1.0, source_id="s1")
    assert sup.worker_exited("a", run, 1, 2.0) == ()
    rec = sup.get("a")
    assert rec.state == S.idle and rec.grace_deadline is None
    assert sup.tick(1000.0) == ()


def test_grace_expiring_during_backoff_cancels_the_restart() -> None:
    sup = make(grace=5.0, initial=30.0)
    run = start_running(sup)
    sup.worker_exited("a", run, 1, 1.0)
    sup.not_ready("a", 2.0, source_id="s1")
    assert sup.tick(7.0) == ()
    assert sup.get("a").state == S.idle
    assert sup.tick(100.0) == ()


def test_start_failure_counts_as_a_crash() -> None:
    sup = make()
    (start,) = sup.ready("a", ES, 0.0).effects
    sup.worker_exited("a", start.run_id, None, 0.1, error="start failed: no such file")
    rec = sup.get("a")
    assert rec.state == S.backoff and rec.failures == 1 and "no such file" in rec.last_error


def test_capacity_counts_streams_holding_a_slot() -> None:
    sup = make(max_workers=2)
    start_running(sup, "a")
    start_running(sup, "b")
    decision = sup.ready("c", ES, 1.0)
    assert decision.admission == Admission.at_capacity and decision.effects == ()
    assert "ORCH_MAX_WORKERS" in decision.detail
    # a stream that already has a slot is never refused
    assert sup.ready("a", ES, 1.0, source_id="s1").admission == Admission.duplicate


def test_stale_events_of_an_old_publisher_are_ignored() -> None:
    sup = make(grace=30.0)
    start_running(sup, source="old")
    sup.ready("a", ES, 1.0, source_id="new")  # a new publisher took over the path
    assert sup.not_ready("a", 2.0, source_id="old").admission == Admission.stale
    assert sup.get("a").grace_deadline is None
    # a ready delivered after its own not-ready is stale too
    sup.not_ready("b", 3.0, source_id="x")
    assert sup.ready("b", ES, 3.1, source_id="x").admission == Admission.stale
    assert sup.get("b").state == S.idle


def test_exit_of_an_unknown_run_is_ignored() -> None:
    sup = make()
    start_running(sup)
    assert sup.worker_exited("a", "not-this-run", 1, 1.0) == ()
    assert sup.get("a").state == S.running


def test_reconcile_starts_missing_workers_and_stops_orphans_after_grace() -> None:
    sup = make(grace=10.0)
    run = start_running(sup, "orphan", now=0.0)
    effects = sup.reconcile({"missing"}, observed_at=5.0, now=5.0)
    (start,) = effects
    assert start.stream_id == "missing"
    assert sup.get("orphan").grace_deadline == 15.0
    (stop,) = sup.tick(15.0)
    assert stop.run_id == run


def test_reconcile_ignores_streams_with_newer_events() -> None:
    sup = make(grace=10.0)
    start_running(sup, "a", now=10.0)
    # the listing was taken before the ready arrived: it must not mark the stream orphaned
    assert sup.reconcile(set(), observed_at=9.0, now=11.0) == ()
    assert sup.get("a").grace_deadline is None


def test_reconcile_cancels_grace_when_the_ingest_is_live_again() -> None:
    sup = make(grace=10.0)
    start_running(sup, "a")
    sup.not_ready("a", 1.0, source_id="s1")
    sup.reconcile({"a"}, observed_at=2.0, now=2.0)
    assert sup.get("a").grace_deadline is None and sup.tick(50.0) == ()


def test_reconcile_starts_a_stream_refused_at_capacity_once_a_slot_frees() -> None:
    sup = make(max_workers=1, grace=0.0)
    run = start_running(sup, "a")
    fr = StreamSettings({"target_lang": "fr"})
    assert sup.ready("b", fr, 1.0).admission == Admission.at_capacity
    sup.not_ready("a", 2.0, source_id="s1")
    sup.worker_exited("a", run, 0, 2.5)
    (start,) = sup.reconcile({"b"}, observed_at=3.0, now=3.0)
    assert start.stream_id == "b" and start.settings == fr


def test_stop_all_stops_workers_and_prevents_restarts() -> None:
    sup = make()
    run = start_running(sup, "a")
    (stop,) = sup.stop_all(1.0)
    assert stop.run_id == run
    assert sup.worker_exited("a", run, -15, 2.0) == ()
    assert sup.get("a").state == S.idle


def test_crash_history_window() -> None:
    policy = RestartPolicy(window=10.0)
    history = CrashHistory()
    assert [history.record(t, policy) for t in (0.0, 5.0, 9.0, 15.0, 30.0)] == [1, 2, 3, 2, 1]


@pytest.mark.parametrize("attempt", [1, 2, 3, 10, 20])
def test_backoff_delay_is_bounded(attempt: int) -> None:
    policy = RestartPolicy(initial=0.5, maximum=8.0)
    rng = random.Random(attempt)
    for _ in range(50):
        delay = policy.delay(attempt, rng)
        base = min(8.0, 0.5 * 2 ** (attempt - 1))
        assert base / 2 <= delay <= base


def test_exit_0_while_a_new_publisher_is_live_restarts_at_once_without_counting_a_crash() -> None:
    sup = make()
    run = start_running(sup)
    (restart,) = sup.worker_exited("a", run, 0, 5.0)  # its input ended; a ready is still current
    assert isinstance(restart, StartWorker) and restart.run_id != run
    rec = sup.get("a")
    assert rec.failures == 0 and rec.state == S.starting


def test_exits_after_the_ingest_ended_are_not_failures() -> None:
    sup = make()
    run = start_running(sup)
    sup.not_ready("a", 1.0, source_id="s1")
    assert sup.worker_exited("a", run, 1, 1.2) == ()  # lost its input: expected
    rec = sup.get("a")
    assert rec.failures == 0 and rec.state == S.idle


def test_permanent_exit_codes_degrade_at_once() -> None:
    sup = make(cap=5)
    run = start_running(sup)
    assert sup.worker_exited("a", run, 4, 2.0) == ()
    rec = sup.get("a")
    assert rec.state == S.degraded and rec.restarts == 0 and "unsupported-input" in rec.degraded_reason


def test_backoff_delay_never_overflows() -> None:
    policy = RestartPolicy(initial=1.0, maximum=60.0, max_in_window=5, window=600.0)
    assert policy.delay(5000, random.Random(1)) <= 60.0


def test_a_new_publisher_during_backoff_starts_a_worker_at_once() -> None:
    # the media server died: the worker crashed while the ingest was live; the publisher comes back
    sup = make(initial=30.0)
    run = start_running(sup)
    assert sup.worker_exited("a", run, 1, 5.0) == ()
    assert sup.get("a").state == S.backoff
    assert sup.ready("a", ES, 6.0, source_id="s1").effects == ()  # the same publisher: backoff holds
    (start,) = sup.ready("a", ES, 6.5, source_id="s2").effects  # a new one does not wait 15-30 s
    rec = sup.get("a")
    assert isinstance(start, StartWorker) and rec.state == S.starting and rec.backoff_deadline is None
    assert len(rec.crashes) == 0 and rec.source_id == "s2"
    assert sup.tick(100.0) == ()  # the cancelled backoff starts nothing more
