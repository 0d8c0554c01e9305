"""Property test: any interleaving of duplicated, reordered and stale events, crashes, timer ticks and
reconciliations never gives a stream two workers, and everything stops once the ingests are gone or the
orchestrator shuts down: the harness lets only the runs the supervisor asked to stop exit."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from livedub.config.stream_query import StreamSettings
from livedub.orchestrator.state import WITH_PROCESS
from livedub.orchestrator.supervisor import StartWorker, StopWorker, Supervisor, SupervisorPolicy
from livedub.proc.backoff import RestartPolicy

STREAMS = ["a", "b", "c", "d", "e"]
SOURCES = ["s1", "s2", "s3", ""]

op = st.one_of(
    st.tuples(st.just("ready"), st.sampled_from(STREAMS), st.sampled_from(SOURCES)),
    st.tuples(st.just("not_ready"), st.sampled_from(STREAMS), st.sampled_from(SOURCES)),
    st.tuples(st.just("started"), st.integers(0, 50), st.just("")),
    st.tuples(st.just("exit"), st.integers(0, 50), st.sampled_from(["0", "1", "-15"])),
    st.tuples(st.just("tick"), st.floats(0.0, 20.0), st.just("")),
    st.tuples(st.just("reconcile"), st.sets(st.sampled_from(STREAMS)), st.floats(0.0, 5.0)),
)


class Harness:
    """Plays the launcher: runs exist from StartWorker until the harness reports their exit."""

    def __init__(self, max_workers: int) -> None:
        self.sup = Supervisor(SupervisorPolicy(grace_period=3.0, max_workers=max_workers,
                                               restart=RestartPolicy(0.5, 4.0, 3, 30.0)), rng=random.Random(1))
        self.now = 0.0
        self.runs: dict[str, str] = {}  # run_id -> stream_id (process exists)
        self.unstarted: list[str] = []
        self.stop_requested: set[str] = set()  # runs the supervisor asked to stop
        self.starts = 0

    def apply(self, effects: tuple) -> None:
        for effect in effects:
            if isinstance(effect, StartWorker):
                assert effect.stream_id not in self.runs.values(), f"second worker for {effect.stream_id}"
                self.runs[effect.run_id] = effect.stream_id
                self.unstarted.append(effect.run_id)
                self.starts += 1
            else:
                assert isinstance(effect, StopWorker)
                assert self.runs.get(effect.run_id) == effect.stream_id, "stop for a run that does not exist"
                self.stop_requested.add(effect.run_id)

    def exit(self, run_id: str, code: int) -> None:
        stream = self.runs.pop(run_id)
        if run_id in self.unstarted:
            self.unstarted.remove(run_id)
        self.stop_requested.discard(run_id)
        self.apply(self.sup.worker_exited(stream, run_id, code, self.now))

    def check(self) -> None:
        by_stream = {stream: run for run, stream in self.runs.items()}
        assert len(by_stream) == len(self.runs)
        for rec in self.sup.records():
            assert rec.run_id == by_stream.get(rec.stream_id), (rec.stream_id, rec.state)
            assert (rec.run_id is not None) == (rec.state in WITH_PROCESS), (rec.stream_id, rec.state)
        assert self.sup.occupied_slots() <= self.sup.policy.max_workers


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=120), st.integers(1, 6), st.booleans())
def test_never_two_workers_per_stream_and_everything_stops(ops: list[tuple], max_workers: int,
                                                          shutdown: bool) -> None:
    h = Harness(max_workers)
    settings_es = StreamSettings({"target_lang": "es"})
    for kind, arg, extra in ops:
        if kind == "ready":
            h.apply(h.sup.ready(arg, settings_es, h.now, source_id=extra).effects)
        elif kind == "not_ready":
            h.apply(h.sup.not_ready(arg, h.now, source_id=extra).effects)
        elif kind == "started" and h.unstarted:
            run = h.unstarted.pop(arg % len(h.unstarted))
            h.sup.worker_started(h.runs[run], run, 1000, h.now)
        elif kind == "exit" and h.runs:
            run = sorted(h.runs)[arg % len(h.runs)]
            h.exit(run, int(extra))
        elif kind == "tick":
            h.now += arg
            h.apply(h.sup.tick(h.now))
        elif kind == "reconcile":
            h.apply(h.sup.reconcile(arg, observed_at=max(0.0, h.now - extra), now=h.now))
        h.check()

    # the end: either the orchestrator shuts down, or every publisher leaves and the grace periods run
    # out. Only runs the supervisor asked to stop exit (as a launcher would), so a worker it forgets to
    # stop is still there at the end.
    if shutdown:
        h.apply(h.sup.stop_all(h.now))
    else:
        for stream in STREAMS:
            rec = h.sup.get(stream)
            h.apply(h.sup.not_ready(stream, h.now, source_id=rec.source_id if rec else "").effects)
        h.apply(h.sup.reconcile(set(), observed_at=h.now, now=h.now))
    for _ in range(5):
        h.now += 100.0
        h.apply(h.sup.tick(h.now))
        for run in sorted(h.stop_requested):
            h.exit(run, 0)
        h.check()
    assert h.runs == {}, f"workers never asked to stop: {h.runs}"
    assert all(rec.state.value in ("idle", "degraded") for rec in h.sup.records())
