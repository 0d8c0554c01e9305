"""Prometheus metrics of the orchestrator, read from the supervisor's records at scrape time.

A custom collector instead of counters updated all over the code: the supervisor's records are
the one source of truth, so the numbers cannot drift from what ``/v1/streams`` shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from livedub.orchestrator.state import WITH_PROCESS, StreamRecord, StreamState


class EventCounts:
    """Hook events by kind and outcome (accepted, duplicate, stale, at_capacity, invalid, busy)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, event: str, result: str) -> None:
        key = (event, result)
        self.counts[key] = self.counts.get(key, 0) + 1


class OrchestratorCollector(Collector):
    def __init__(self, records: Callable[[], list[StreamRecord]], events: EventCounts,
                 max_workers: int, forwarders: Callable[[], int] = lambda: 0) -> None:
        self._records = records
        self._events = events
        self._max_workers = max_workers
        self._forwarders = forwarders  # egress forwarder processes alive (0 while EGRESS_ENABLED=false)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        records = self._records()
        active = GaugeMetricFamily("orchestrator_active_streams", "Streams with a worker process.")
        active.add_metric([], sum(1 for r in records if r.state in WITH_PROCESS))
        yield active
        yield GaugeMetricFamily("orchestrator_max_workers", "ORCH_MAX_WORKERS.", value=self._max_workers)
        yield GaugeMetricFamily("orchestrator_active_forwarders", "Egress forwarder processes running.",
                                value=self._forwarders())
        by_state = GaugeMetricFamily("orchestrator_streams", "Known streams by state.", labels=["state"])
        for state in StreamState:
            by_state.add_metric([state.value], sum(1 for r in records if r.state == state))
        yield by_state
        per_stream = {
            "starts": CounterMetricFamily("orchestrator_worker_starts", "Worker starts.", labels=["stream_id"]),
            "stops": CounterMetricFamily("orchestrator_worker_stops", "Workers stopped on purpose.",
                                         labels=["stream_id"]),
            "restarts": CounterMetricFamily("orchestrator_worker_restarts", "Restarts after a crash.",
                                            labels=["stream_id"]),
            "failures": CounterMetricFamily("orchestrator_worker_failures",
                                            "Workers that exited non-zero or failed to start.",
                                            labels=["stream_id"]),
        }
        degraded = GaugeMetricFamily("orchestrator_stream_degraded",
                                     "1 while a stream is degraded (crashed too often).", labels=["stream_id"])
        for rec in records:
            for name, family in per_stream.items():
                family.add_metric([rec.stream_id], getattr(rec, name))
            degraded.add_metric([rec.stream_id], 1 if rec.state == StreamState.degraded else 0)
        yield from per_stream.values()
        yield degraded
        events = CounterMetricFamily("orchestrator_hook_events", "Hook events received, by outcome.",
                                     labels=["event", "result"])
        for (event, result), count in sorted(self._events.counts.items()):
            events.add_metric([event, result], count)
        yield events


def build_registry(collector: OrchestratorCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
