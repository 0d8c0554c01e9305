"""Workers on a real two-node Ray cluster (ORCH_LAUNCHER=ray) under `livedub up`.

The scenario (``ray_cluster_scenario.py``) runs in its own network namespace with only loopback
(Ray would bind to the machine's address otherwise, PLATFORM.md "Ray") and PID namespace (every
Ray process it started ends with it). Two streams published by ffmpeg: each worker on a node that
has the resource it asks for, spread over both; a storm of duplicated ready events makes no second
actor; killing one stream's node restarts its worker on the other and a viewer gets output again;
killing the orchestrator (``livedub up`` restarts it) adopts the running workers: same processes,
no duplicate, no orphan; Ctrl-C leaves no actor and no worker.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.require import requires

from .conftest import requires_media

ROOT = Path(__file__).resolve().parents[2]


def _can_unshare() -> bool:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(["unshare", "-n", "-p", "-f", "--mount-proc", "true"], capture_output=True, check=False)
    return probe.returncode == 0


pytestmark = [pytest.mark.e2e, *requires_media,
              requires(importlib.util.find_spec("ray") is not None, "ray not installed (cluster extra)"),
              requires(_can_unshare(), "cannot create network + PID namespaces (unshare needs root)")]


def test_two_streams_on_a_two_node_ray_cluster_survive_a_lost_node_and_an_orchestrator_restart(
        tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    inner = (f"ip link set lo up && exec {sys.executable} -m tests.e2e.ray_cluster_scenario "
             f"--tmp {tmp_path} --out {out}")
    with (tmp_path / "scenario.log").open("wb") as log:
        code = subprocess.run(["unshare", "-n", "-p", "-f", "--mount-proc", "sh", "-c", inner], cwd=ROOT,
                              env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}, stdout=log,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=480,
                              check=False).returncode
    facts = json.loads(out.read_text()) if out.exists() else {}
    detail = (tmp_path / "scenario.log").read_text(errors="replace")[-6000:]
    assert code == 0 and facts.get("passed") is True, f"failed: {facts.get('failed')}\n{detail}"
    assert set(facts["placement"].values()) == {"A", "B"}
    assert facts["node_loss"]["now_on"] != facts["node_loss"]["lost"] and facts["node_loss"]["restarts"] == 1
    assert "Ray cluster" in facts["node_loss"]["lastError"] or "Ray actor" in facts["node_loss"]["lastError"]
    assert facts["adopted"] == {"ray-a": True, "ray-b": True}
    assert facts["up_exit"] == 0 and facts["children_left"] == []
