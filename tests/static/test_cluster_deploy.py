"""The Ray deployment files, checked statically: the compose override (with the compose v2 binary)
and the KubeRay manifests. What the orchestrator asks each worker actor for must be what the Ray
nodes offer; every livedub variable in them is one the settings know; one Ray version throughout."""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

import pytest
import yaml

from livedub.config import load_settings
from livedub.config.loader import known_env_vars
from livedub.config.settings import Launcher, OrchestratorSettings
from tests.static._repo import COMPOSE_FILE, ROOT, run_compose

OVERRIDE = ROOT / "deploy" / "docker-compose.ray.yml"
KUBERAY = ROOT / "deploy" / "kuberay"
LIVEDUB_PREFIXES = ("ORCH_", "WORKER_", "MEDIA_", "STS_", "LOG_", "LIVEDUB_", "EGRESS_")


def ray_pin() -> str:
    match = re.search(r'cluster = \["ray==([0-9.]+)"\]', (ROOT / "pyproject.toml").read_text())
    assert match, "the cluster extra pins ray"
    return match.group(1)


def known_names() -> set[str]:
    return {doc.name for doc in known_env_vars()}


def livedub_vars(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(LIVEDUB_PREFIXES)}


def start_resources(command: list[str]) -> dict[str, float]:
    value = next(arg.split("=", 1)[1] for arg in command if arg.startswith("--resources="))
    return json.loads(value)


# ---- compose override -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def composed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    deploy = tmp_path_factory.mktemp("ray-compose") / "deploy"
    deploy.mkdir()
    for source in (COMPOSE_FILE, OVERRIDE):  # a copy without ../.env: a developer's keys stay out
        shutil.copyfile(source, deploy / source.name)
    result = run_compose(deploy / COMPOSE_FILE.name, "-f", str(deploy / OVERRIDE.name), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: ("" if v is None else str(v)) for k, v in (service.get("environment") or {}).items()}


def test_the_override_runs_a_head_and_a_gpu_node_and_no_worker_host(composed: dict[str, Any]) -> None:
    assert set(composed["services"]) == {"mediamtx", "stream-orchestration", "ray-head", "ray-worker-gpu"}


def test_the_orchestrator_asks_for_what_the_gpu_node_offers(composed: dict[str, Any]) -> None:
    services = composed["services"]
    env = _env(services["stream-orchestration"])
    settings = load_settings(OrchestratorSettings, env=livedub_vars(env))
    assert settings.launcher == Launcher.ray
    host, port = settings.ray_address.split(":")
    assert host in services and "--head" in services[host]["command"] and f"--port={port}" in services[host]["command"]
    head = services[host]["command"]
    assert "--num-cpus=0" in head and not any(a.startswith("--resources=") for a in head)  # never runs a stream
    node = services["ray-worker-gpu"]
    offered = start_resources(node["command"])
    assert all(offered.get(name, 0) >= amount for name, amount in settings.ray_resource_map.items())
    assert settings.ray_num_gpus >= 1 and "--num-gpus=1" in node["command"]
    devices = node["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert f"--address={settings.ray_address}" in node["command"]


def test_every_ray_image_is_built_with_the_cluster_extra(composed: dict[str, Any]) -> None:
    for name in ("stream-orchestration", "ray-head", "ray-worker-gpu"):
        assert composed["services"][name]["build"]["args"]["CLUSTER"] == "1", name
    for dockerfile in (ROOT / "apps/stream-worker/Dockerfile", ROOT / "deploy/orchestrator/Dockerfile"):
        text = dockerfile.read_text()
        assert "ARG CLUSTER=0" in text and '"$CLUSTER" = 1' in text and "--cluster" in text, dockerfile


def test_the_override_names_only_known_livedub_settings(composed: dict[str, Any]) -> None:
    for name, service in composed["services"].items():
        unknown = set(livedub_vars(_env(service))) - known_names()
        assert not unknown, f"{name}: {sorted(unknown)}"


# ---- KubeRay --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    documents: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBERAY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            documents[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return documents


def _container_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: str(e.get("value", "")) for e in container.get("env", []) if "value" in e}


def test_kuberay_files_hold_a_raycluster_and_the_orchestrator(manifests: dict[str, dict[str, Any]]) -> None:
    assert set(manifests) == {"RayCluster/livedub", "Deployment/livedub-orchestrator",
                              "Service/livedub-orchestrator"}
    cluster = manifests["RayCluster/livedub"]
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["spec"]["rayVersion"] == ray_pin()


def test_the_raycluster_gpu_group_offers_what_the_orchestrator_asks(manifests: dict[str, dict[str, Any]]) -> None:
    cluster = manifests["RayCluster/livedub"]
    deployment = manifests["Deployment/livedub-orchestrator"]
    (orchestrator,) = deployment["spec"]["template"]["spec"]["containers"]
    env = _container_env(orchestrator)
    settings = load_settings(OrchestratorSettings, env=livedub_vars(env))
    assert settings.launcher == Launcher.ray and deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # never two orchestrators
    # KubeRay names the head's service <cluster>-head-svc
    assert settings.ray_address == f"{cluster['metadata']['name']}-head-svc:6379"
    head = cluster["spec"]["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0" and "resources" not in head["rayStartParams"]
    (gpu,) = [g for g in cluster["spec"]["workerGroupSpecs"] if g["groupName"] == "gpu"]
    # KubeRay's documented form: a JSON object inside a quoted string
    offered = json.loads(json.loads(gpu["rayStartParams"]["resources"]))
    assert all(offered.get(name, 0) >= amount for name, amount in settings.ray_resource_map.items())
    (worker,) = gpu["template"]["spec"]["containers"]
    assert int(worker["resources"]["limits"]["nvidia.com/gpu"]) >= settings.ray_num_gpus >= 1
    assert worker["image"].endswith("-ray") and orchestrator["image"].endswith(":ray")
    for container in (orchestrator, worker, *head["template"]["spec"]["containers"]):
        unknown = set(livedub_vars(_container_env(container))) - known_names()
        assert not unknown, f"{container['name']}: {sorted(unknown)}"


def test_the_orchestrator_hook_token_comes_from_a_secret(manifests: dict[str, dict[str, Any]]) -> None:
    (orchestrator,) = manifests["Deployment/livedub-orchestrator"]["spec"]["template"]["spec"]["containers"]
    token = next(e for e in orchestrator["env"] if e["name"] == "ORCH_HOOK_TOKEN")
    assert "value" not in token and token["valueFrom"]["secretKeyRef"]["key"]


def test_docs_describe_the_ray_files() -> None:
    scaling = (ROOT / "docs" / "scaling.md").read_text()
    for name in ("docker-compose.ray.yml", "kuberay/raycluster.yaml", "ORCH_RAY_RESOURCES", "ORCH_LAUNCHER=ray"):
        assert name in scaling, name
