"""The compose profile `observability`: Prometheus scrapes what exists, and every metric the Grafana
dashboard queries is one that livedub (orchestrator, worker, worker host) or MediaMTX exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from livedub.core.metrics import CoreMetrics
from livedub.orchestrator.metrics import EventCounts, OrchestratorCollector, build_registry
from livedub.worker.metrics import WorkerMetrics
from livedub.workerhost.app import _HostCollector
from tests.static._repo import ROOT, resolved_compose

OBSERVABILITY = ROOT / "deploy" / "observability"
DASHBOARD = OBSERVABILITY / "grafana" / "dashboards" / "livedub.json"
# MediaMTX's metrics as its documentation lists them (README "Metrics"; names only)
MEDIAMTX_METRICS = {
    "paths", "paths_bytes_received", "paths_bytes_sent", "hls_muxers", "hls_muxers_bytes_sent",
    "rtsp_conns", "rtsp_conns_bytes_received", "rtsp_conns_bytes_sent", "rtsp_sessions",
    "rtsp_sessions_bytes_received", "rtsp_sessions_bytes_sent", "rtmp_conns", "rtmp_conns_bytes_received",
    "rtmp_conns_bytes_sent", "srt_conns", "srt_conns_bytes_received", "srt_conns_bytes_sent",
    "webrtc_sessions", "webrtc_sessions_bytes_received", "webrtc_sessions_bytes_sent",
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "le", "inf", "nan"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("_count", "_sum", "_created")}


def exposed(registry: CollectorRegistry) -> set[str]:
    """Sample names a scrape of ``registry`` can return (a counter ``x`` is scraped as ``x_total``)."""
    names: set[str] = set()
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names |= {name + suffix for suffix in SUFFIXES.get(kind, ())} or {name}
            names.add(name)
    return names


def livedub_metrics() -> set[str]:
    worker = CollectorRegistry()
    WorkerMetrics(worker)
    CoreMetrics(worker)
    host = CollectorRegistry(auto_describe=False)

    class _NoWorkers:
        def records(self) -> list[Any]:
            return []

    host.register(_HostCollector(_NoWorkers()))  # type: ignore[arg-type]
    orchestrator = build_registry(OrchestratorCollector(list, EventCounts(), 4))
    return exposed(worker) | exposed(host) | exposed(orchestrator)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, groupings, ranges and functions dropped)."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        rest = text[match.end():].lstrip()
        if rest.startswith("(") or match.group().lower() in PROMQL_WORDS:
            continue  # a function call or a keyword
        names.add(match.group())
    return names


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_the_parser_finds_metrics_and_skips_functions_and_labels() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, stream_id) (rate(worker_sts_rtt_ms_bucket{job="w"}[5m])))'
    assert metric_names(expr) == {"worker_sts_rtt_ms_bucket"}
    assert metric_names("a_total / ignoring(x) b or vector(0)") == {"a_total", "b"}


def test_every_metric_the_dashboard_queries_exists() -> None:
    known = livedub_metrics() | MEDIAMTX_METRICS
    queried = {name for expr in dashboard_exprs() for name in metric_names(expr)}
    assert queried, "the dashboard queries something"
    assert queried - known == set()


def test_an_unknown_metric_would_be_caught() -> None:
    assert "worker_made_up_metric" not in livedub_metrics() | MEDIAMTX_METRICS
    assert "worker_sts_rtt_ms_bucket" in livedub_metrics() and "orchestrator_worker_restarts_total" in livedub_metrics()


def test_the_dashboard_shows_what_an_operator_asks_for() -> None:
    queried = {name for expr in dashboard_exprs() for name in metric_names(expr)}
    for metric in ("orchestrator_streams", "worker_audio_fragments_total", "worker_output_delay_seconds",
                   "worker_fallback_total", "worker_sts_breaker_state", "worker_sts_rtt_ms_bucket",
                   "orchestrator_worker_restarts_total"):
        assert metric in queried, metric
    dashboard = json.loads(DASHBOARD.read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    source = yaml.safe_load((OBSERVABILITY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert uids == {d["uid"] for d in source["datasources"]}


@pytest.fixture(scope="module")
def observability(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return resolved_compose(tmp_path_factory.mktemp("observability"), "cpu", "observability")


def test_prometheus_scrapes_services_that_exist_on_their_ports(observability: dict[str, Any]) -> None:
    services = observability["services"]
    assert {"prometheus", "grafana"} <= set(services)
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"orchestrator", "mediamtx", "worker-host", "workers"}
    expected_ports = {"stream-orchestration": 8080, "mediamtx": 9998, "stream-worker": 8090}
    for job in jobs.values():
        urls = [t for c in job.get("static_configs", []) for t in c["targets"]]
        urls += [c["url"].removeprefix("http://").split("/")[0] for c in job.get("http_sd_configs", [])]
        for target in urls:
            host, port = target.split(":")
            assert host in services and expected_ports[host] == int(port), target
    sd = jobs["workers"]["http_sd_configs"][0]["url"]
    assert sd.endswith("/v1/metrics-targets")
    # workers bind their metrics where Prometheus can reach them
    assert services["stream-worker"]["environment"]["WORKER_METRICS_HOST"] == "0.0.0.0"


def test_grafana_mounts_its_provisioning_and_the_dashboard(observability: dict[str, Any]) -> None:
    mounts = {v["target"]: Path(v["source"]) for v in observability["services"]["grafana"]["volumes"] if "source" in v}
    assert mounts["/etc/grafana/provisioning"].name == "provisioning"
    provider = yaml.safe_load((OBSERVABILITY / "grafana/provisioning/dashboards/livedub.yml").read_text())
    assert provider["providers"][0]["options"]["path"] in mounts
    prometheus = observability["services"]["prometheus"]
    assert any(v["target"] == "/etc/prometheus/prometheus.yml" for v in prometheus["volumes"])
    for name in ("prometheus", "grafana"):  # operator tools: loopback on the Docker host only
        assert all(p.get("host_ip") == "127.0.0.1" for p in observability["services"][name]["ports"]), name
