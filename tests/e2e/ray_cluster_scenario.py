"""The Ray launcher end to end, run by ``test_ray_cluster.py`` inside a network namespace that has
only loopback (Ray binds to the machine's address otherwise) and a PID namespace (every process it
starts ends with it).

A real local Ray cluster (a head that runs no workers and two nodes, A and B, each with the
``livedub_worker`` resource), `livedub up` with ``ORCH_LAUNCHER=ray`` (embedded nginx, bypass
workers), two streams published by ffmpeg. It checks what the issue asks, in order, and writes each
observation to ``--out`` (JSON) as it goes; the first failed check ends it with exit code 1.

    python -m tests.e2e.ray_cluster_scenario --tmp DIR --out result.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from livedub.cluster.actor import actor_name, stream_of
from livedub.obs.metrics import free_port
from livedub.proc.child import pid_alive, spawn, terminate, wait_until
from tests.e2e.test_up_and_demo import _env
from tests.e2e.test_up_heals import ReconnectingPublisher, _children, _cmdline, wait_for_viewer

STREAMS = ("ray-a", "ray-b")
NAMESPACE = "livedub-e2e"
TOKEN = "ray-e2e-hook-token"
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0",
           # a killed node is declared dead after 5 missed 1 s health checks (~5 s) instead of ~15 s
           "RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "5"}


class Scenario:
    def __init__(self, tmp: Path, out: Path) -> None:
        self.tmp = tmp
        self.out = out
        self.facts: dict[str, Any] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.publishers: dict[str, ReconnectingPublisher] = {}
        self.ray_port = free_port()
        self.ray_bin = str(Path(sys.executable).with_name("ray"))
        self.env = _env(tmp, WORKER_STS_MODE="bypass", WORKER_BUFFER_TARGET="1s", ORCH_GRACE_PERIOD="3s",
                        ORCH_RESTART_BACKOFF_INITIAL="200ms", ORCH_RESTART_BACKOFF_MAX="1s",
                        ORCH_RECONCILE_INTERVAL="2s", ORCH_HOOK_TOKEN=TOKEN, ORCH_LAUNCHER="ray",
                        ORCH_RAY_ADDRESS=f"127.0.0.1:{self.ray_port}", ORCH_RAY_NAMESPACE=NAMESPACE,
                        ORCH_RAY_NUM_CPUS="0.5", ORCH_RAY_RESOURCES='{"livedub_worker": 1}', **RAY_ENV)
        self.base = "http://" + self.env["ORCH_HTTP_ADDR"]
        self.rtmp = int(self.env["MEDIA_RTMP_PORT"])

    # -- bookkeeping ----------------------------------------------------------------------------
    def note(self, key: str, value: Any) -> None:
        self.facts[key] = value
        self.out.write_text(json.dumps(self.facts, indent=2, default=str))
        print(f"[scenario] {key}: {json.dumps(value, default=str)}", flush=True)

    def check(self, condition: bool, what: str) -> None:
        if not condition:
            self.note("failed", what)
            raise SystemExit(f"check failed: {what}\n{self.log_tail()}")

    def log_tail(self) -> str:
        path = self.tmp / "var" / "logs" / "orchestrator.log"
        up = (self.tmp / "up.log").read_text(errors="replace")[-3000:] if (self.tmp / "up.log").exists() else ""
        orch = path.read_text(errors="replace")[-5000:] if path.exists() else ""
        return f"--- up.log ---\n{up}\n--- orchestrator.log ---\n{orch}"

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.tmp / f"{name}.log").open("wb") as log:
            proc = spawn(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
        self.procs[name] = proc
        return proc

    # -- the cluster ----------------------------------------------------------------------------
    def start_cluster(self) -> None:
        env = {**os.environ, **RAY_ENV}
        common = ["--disable-usage-stats", "--block"]
        self.start("ray-head", [self.ray_bin, "start", "--head", f"--port={self.ray_port}", "--num-cpus=0",
                                "--include-dashboard=false", *common], env)
        import ray

        self.ray = ray
        # one node at a time: on two cores, nodes that register together can miss their start deadline
        self.check(wait_until(self.joined, 60, interval=0.5), "the Ray head answers")
        for count, node in enumerate(("A", "B"), start=2):
            resources = json.dumps({"livedub_worker": 2, f"node{node}": 1})
            self.start(f"ray-node{node}", [self.ray_bin, "start", f"--address=127.0.0.1:{self.ray_port}",
                                           "--num-cpus=2", f"--resources={resources}", *common], env)
            self.check(wait_until(lambda n=count: len(self.alive_nodes()) == n, 60), f"Ray node {node} alive")

    def joined(self) -> bool:
        try:
            self.ray.init(address=f"127.0.0.1:{self.ray_port}", namespace=NAMESPACE, log_to_driver=False,
                          configure_logging=False)
        except ConnectionError:
            return False
        return True

    def alive_nodes(self) -> dict[str, str]:
        """node id -> "head", "A" or "B" for each node alive."""
        names = {}
        for node in self.ray.nodes():
            if node["Alive"]:
                res = node["Resources"]
                names[node["NodeID"]] = "A" if "nodeA" in res else "B" if "nodeB" in res else "head"
        return names

    def actors(self) -> list[str]:
        return sorted(n for n in self.ray.util.list_named_actors() if stream_of(n) is not None)

    def actor_info(self, stream_id: str) -> dict[str, Any]:
        try:
            actor = self.ray.get_actor(actor_name(stream_id), namespace=NAMESPACE)
            return dict(self.ray.get(actor.info.remote(), timeout=10))
        except Exception as exc:  # noqa: BLE001 - not there (yet), or its node is gone
            return {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}

    def shows_its_node(self, stream_id: str) -> bool:
        """The stream's API view names the node its actor runs on (the id's first digits)."""
        node = str(self.actor_info(stream_id).get("node") or "")
        where = str(self.stream(stream_id).get("where") or "")
        return bool(node) and where.startswith("ray node ") and node.startswith(where.removeprefix("ray node "))

    def node_of(self, stream_id: str) -> str | None:
        info = self.actor_info(stream_id)
        return self.alive_nodes().get(str(info.get("node"))) if info.get("running") else None

    # -- the stack ------------------------------------------------------------------------------
    def stream(self, stream_id: str) -> dict[str, Any]:
        try:
            return httpx.get(f"{self.base}/v1/streams/{stream_id}", timeout=3).json()
        except (httpx.HTTPError, ValueError):
            return {}

    def readyz(self) -> int:
        try:
            return httpx.get(self.base + "/readyz", timeout=2).status_code
        except httpx.HTTPError:
            return 0

    def nodes_in_readyz(self) -> int | None:
        """How many Ray nodes the orchestrator's /readyz says are alive."""
        try:
            cluster = httpx.get(self.base + "/readyz", timeout=5).json().get("rayCluster") or {}
        except (httpx.HTTPError, ValueError):
            return None
        return cluster.get("nodesAlive")

    def workers(self, stream_id: str) -> list[int]:
        """Live worker processes of ``stream_id`` in this PID namespace (their title names the stream)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    title = (entry / "cmdline").read_bytes().split(b"\0")[0]
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                if state != "Z" and title.startswith(f"livedub worker {stream_id} run ".encode()):
                    found.append(int(entry.name))
        return found

    def viewer(self, stream_id: str, within: float) -> bool:
        url = f"rtmp://127.0.0.1:{self.rtmp}/live//{stream_id}/out"
        return wait_for_viewer(url, time.monotonic() + within) is not None

    def running(self, stream_id: str, pred: Callable[[dict[str, Any]], bool] = lambda s: True) -> bool:
        s = self.stream(stream_id)
        return s.get("state") == "running" and pred(s)

    def orchestrator_pid(self) -> int | None:
        up = self.procs["up"].pid
        return next((p for p in _children(up) if "livedub.cli.main orchestrator" in _cmdline(p)), None)

    # -- the scenario ---------------------------------------------------------------------------
    def run(self) -> None:
        t0 = time.monotonic()
        self.start_cluster()
        self.note("cluster_up_s", round(time.monotonic() - t0, 1))
        up = self.start("up", [sys.executable, "-m", "livedub.cli.main", "up", "--no-status"], self.env)
        self.check(wait_until(lambda: self.readyz() == 200, 60,
                              abort=lambda: "livedub up exited" if up.poll() is not None else None),
                   "livedub up with ORCH_LAUNCHER=ray becomes ready")
        for stream_id in STREAMS:
            url = f"rtmp://127.0.0.1:{self.rtmp}/live//{stream_id}/in"
            # reconnects like OBS: a worker that starts cold on its node may miss the ingest hold
            self.publishers[stream_id] = ReconnectingPublisher(url, self.tmp / f"publisher-{stream_id}.log")

        # 1. each stream's worker runs on a node that has the resource it asks for, spread over A and B
        for stream_id in STREAMS:
            self.check(wait_until(lambda s=stream_id: self.running(s) and self.node_of(s) is not None, 90),
                       f"{stream_id} running on a Ray node")
            self.check(self.viewer(stream_id, 30), f"a viewer gets {stream_id}'s output")
        placement = {s: self.node_of(s) for s in STREAMS}
        self.note("placement", placement)
        self.check(set(placement.values()) == {"A", "B"}, "the two workers on nodes A and B (never the head)")
        pids = {s: self.stream(s)["pid"] for s in STREAMS}
        self.check(all(self.workers(s) == [pids[s]] for s in STREAMS), "one worker process per stream")
        self.check(all(self.shows_its_node(s) for s in STREAMS), "the API says which Ray node runs each worker")
        self.check(self.nodes_in_readyz() == 3, "/readyz counts the head and both nodes alive")

        # 2. a storm of duplicated ready events never creates a second actor or worker
        event = {"path": f"live/{STREAMS[0]}/in", "query": "", "sourceType": "rtmpConn", "sourceId": "storm"}
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: httpx.post(f"{self.base}/v1/mediamtx/events/ready", json=event,
                                                       headers=headers, timeout=10).status_code, range(40)))
        self.note("storm_codes", sorted(set(codes)))
        self.check(all(c < 500 for c in codes), "the storm's events are answered without a server error")
        self.check(self.actors() == sorted(actor_name(s) for s in STREAMS), "one actor per stream after the storm")
        self.check(self.stream(STREAMS[0]).get("pid") == pids[STREAMS[0]] and
                   self.workers(STREAMS[0]) == [pids[STREAMS[0]]], "the storm left the first worker alone")

        # 3. the node of one stream's worker dies: the orchestrator restarts it on the other node
        victim = STREAMS[0]
        lost_node = placement[victim]
        killed_at = time.monotonic()
        os.killpg(self.procs[f"ray-node{lost_node}"].pid, signal.SIGKILL)
        self.check(wait_until(lambda: self.running(victim, lambda s: s.get("restarts", 0) >= 1)
                              and self.node_of(victim) not in (None, lost_node), 90),
                   f"{victim} restarted on the node that is left")
        self.check(self.viewer(victim, 30), f"a viewer gets {victim}'s output again")
        self.check(self.shows_its_node(victim), f"the API names {victim}'s new node")
        self.check(wait_until(lambda: self.nodes_in_readyz() == 2, 30), "/readyz counts the node that is left")
        record = self.stream(victim)
        self.note("node_loss", {"lost": lost_node, "now_on": self.node_of(victim),
                                "back_s": round(time.monotonic() - killed_at, 1), "lastError": record.get("lastError"),
                                "restarts": record.get("restarts")})
        # its actor process ends when it loses its raylet, and the worker with it (parent-death signal)
        gone = wait_until(lambda: not pid_alive(pids[victim]), 30)
        if not gone:
            ps = subprocess.run(["ps", "-eo", "pid,ppid,pgid,stat,args"], capture_output=True, text=True, check=False)
            self.note("lost_worker_ps", ps.stdout[-6000:])
        self.check(gone, "the lost node's worker is gone")
        self.note("lost_worker_gone_s", round(time.monotonic() - killed_at, 1))
        self.check(self.running(STREAMS[1], lambda s: s.get("pid") == pids[STREAMS[1]]),
                   "the other stream was not touched")
        pids[victim] = record["pid"]
        self.check(self.workers(victim) == [pids[victim]], "one worker for the restarted stream")

        # 4. the orchestrator is killed; `livedub up` restarts it and it adopts the running actors
        old_orch = self.orchestrator_pid()
        self.check(old_orch is not None, "the orchestrator child of livedub up found")
        runs = {s: self.stream(s)["runId"] for s in STREAMS}
        os.kill(old_orch, signal.SIGKILL)
        self.check(wait_until(lambda: self.orchestrator_pid() not in (None, old_orch) and self.readyz() == 200, 60),
                   "livedub up restarted the orchestrator")
        self.check(wait_until(lambda: all(self.running(s, lambda r, s=s: r.get("runId") != runs[s])
                                          for s in STREAMS), 60), "both streams running under the new orchestrator")
        adopted = {s: self.stream(s)["pid"] == pids[s] and self.workers(s) == [pids[s]] for s in STREAMS}
        self.note("adopted", adopted)
        self.check(all(adopted.values()), "the running workers were adopted (same process, no second one)")
        self.check(self.actors() == sorted(actor_name(s) for s in STREAMS), "no duplicate or orphan actor")
        for stream_id in STREAMS:
            self.check(self.viewer(stream_id, 20), f"a viewer gets {stream_id}'s output after the restart")
            self.check(self.stream(stream_id).get("restarts", 0) == 0, f"{stream_id} was adopted, not restarted")

        # 5. Ctrl-C: livedub up stops its workers; no actor is left
        for publisher in self.publishers.values():
            publisher.stop()
        up.send_signal(signal.SIGINT)
        self.note("up_exit", up.wait(timeout=90))
        self.check(self.facts["up_exit"] == 0, "livedub up exits 0")
        self.check(wait_until(lambda: not self.actors(), 30), "no worker actor left after livedub up stopped")
        self.check(all(not self.workers(s) for s in STREAMS), "no worker process left")
        self.note("total_s", round(time.monotonic() - t0, 1))

    def close(self) -> None:
        for publisher in self.publishers.values():
            publisher.stop()
        for name, proc in reversed(list(self.procs.items())):
            if not name.startswith("ray-"):
                terminate(proc, timeout=10)
        subprocess.run([self.ray_bin, "stop", "--force"], capture_output=True, timeout=60, check=False)
        for name, proc in self.procs.items():
            if name.startswith("ray-"):
                terminate(proc, timeout=10)
        # this process is PID 1 of its namespace: what ended under it (Ray's daemons) is reaped here
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        self.note("children_left", [_cmdline(p)[:120] for p in _children(os.getpid()) if pid_alive(p)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tmp", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    scenario = Scenario(args.tmp, args.out)
    try:
        scenario.run()
    finally:
        scenario.close()
    scenario.note("passed", True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
