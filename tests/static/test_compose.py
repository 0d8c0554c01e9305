"""deploy/docker-compose.yml, checked with the compose v2 binary (no engine needed)."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from livedub.config import load_settings
from livedub.config.settings import WorkerSettings
from livedub.media.mediamtx import COMPOSE_HOOK, COMPOSE_PROFILE
from tests.static._repo import ROOT, hermetic_compose_copy, resolved_compose, run_compose

BASELINE = {"mediamtx", "stream-orchestration"}
WORKER_SERVICES = {"cpu": "stream-worker", "gpu": "stream-worker-gpu"}
LIVEDUB_SERVICES = {"stream-orchestration", *WORKER_SERVICES.values()}


@pytest.mark.parametrize("profiles", [(), ("cpu",), ("gpu",)], ids=["baseline", "cpu", "gpu"])
def test_compose_config_is_valid(tmp_path: Path, profiles: tuple[str, ...]) -> None:
    # `docker compose [--profile X] config -q`, on the file exactly as committed
    flags = [arg for profile in profiles for arg in ("--profile", profile)]
    result = run_compose(hermetic_compose_copy(tmp_path), *flags, "config", "-q")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("profiles", "expected"),
    [((), BASELINE), (("cpu",), BASELINE | {"stream-worker"}), (("gpu",), BASELINE | {"stream-worker-gpu"})],
    ids=["baseline", "cpu", "gpu"],
)
def test_profiles_select_one_worker_host(
    tmp_path: Path, profiles: tuple[str, ...], expected: set[str]
) -> None:
    assert set(resolved_compose(tmp_path, *profiles)["services"]) == expected


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return resolved_compose(tmp_path_factory.mktemp("compose"), "cpu", "gpu")


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: ("" if v is None else str(v)) for k, v in (service.get("environment") or {}).items()}


def test_gpu_worker_reserves_an_nvidia_gpu_and_cpu_worker_does_not(everything: dict[str, Any]) -> None:
    gpu = everything["services"]["stream-worker-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert _env(gpu)["WORKER_DEVICE"] == "cuda"
    # the production providers, each a name the worker accepts (an unknown one would exit 2)
    production = {k: v for k, v in _env(gpu).items() if k in ("WORKER_ASR", "WORKER_MT", "WORKER_ASR_COMPUTE_TYPE")}
    assert production == {"WORKER_ASR": "whisper-large-v3-turbo", "WORKER_MT": "nllb", "WORKER_ASR_COMPUTE_TYPE": "float16"}
    load_settings(WorkerSettings, env=production)
    cpu = everything["services"]["stream-worker"]
    assert not (cpu.get("deploy") or {}).get("resources", {}).get("reservations")
    assert _env(cpu)["WORKER_DEVICE"] == "cpu"


def test_both_worker_profiles_build_one_dockerfile_with_a_target(everything: dict[str, Any]) -> None:
    for target, name in WORKER_SERVICES.items():
        build = everything["services"][name]["build"]
        assert build["dockerfile"] == "apps/stream-worker/Dockerfile"
        assert build["args"]["TARGET"] == target


def test_orchestrator_reaches_the_worker_host_by_name(everything: dict[str, Any]) -> None:
    orch = everything["services"]["stream-orchestration"]
    env = _env(orch)
    assert orch["command"] == ["livedub", "orchestrator"]
    assert env["ORCH_HTTP_ADDR"] == "0.0.0.0:8080"
    assert env["ORCH_LAUNCHER"] == "host"
    host, port = env["ORCH_WORKER_HOST_URL"].removeprefix("http://").split(":")
    for name in WORKER_SERVICES.values():
        worker = everything["services"][name]
        aliases = {name} | set(((worker.get("networks") or {}).get("default") or {}).get("aliases") or [])
        assert host in aliases, f"{name} does not answer to {host}"
        assert worker["command"] == ["livedub", "worker-host"]
        assert _env(worker)["WORKER_HOST_HTTP_ADDR"] == f"0.0.0.0:{port}"


def test_hooks_and_workers_address_services_by_name(everything: dict[str, Any]) -> None:
    services = everything["services"]
    # the hook's URL is on its command line in deploy/mediamtx/mediamtx.yml (rendered from COMPOSE_PROFILE)
    ready = shlex.split(COMPOSE_PROFILE.hook_ready)
    assert ready[:3] == [*COMPOSE_HOOK, "ready"]
    assert (
        ready[3]
        == _env(services["stream-orchestration"])["ORCH_PUBLIC_URL"]
        == "http://stream-orchestration:8080"
    )
    assert "ORCH_PUBLIC_URL" not in _env(services["mediamtx"])
    for name in LIVEDUB_SERVICES:
        assert _env(services[name])["MEDIA_HOST"] == "mediamtx"
        assert _env(services[name])["MEDIA_BACKEND"] == "mediamtx"


def test_every_service_restarts_and_has_a_healthcheck(everything: dict[str, Any]) -> None:
    for name, service in everything["services"].items():
        assert service.get("restart") == "unless-stopped", name
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] == "CMD", name
    assert (
        "http://127.0.0.1:8080/readyz"  # what matters: it reaches the media server's API
        in everything["services"]["stream-orchestration"]["healthcheck"]["test"]
    )
    assert "http://127.0.0.1:9997/v3/paths/list" in everything["services"]["mediamtx"]["healthcheck"]["test"]


def test_mediamtx_config_and_hook_come_from_deploy_mediamtx(everything: dict[str, Any]) -> None:
    binds = {
        v["target"]: v["source"] for v in everything["services"]["mediamtx"]["volumes"] if v["type"] == "bind"
    }
    assert binds["/mediamtx.yml"].endswith("deploy/mediamtx/mediamtx.yml")
    assert binds["/hooks/hook.sh"].endswith("deploy/mediamtx/hook.sh")
    assert all(
        v.get("read_only") for v in everything["services"]["mediamtx"]["volumes"] if v["type"] == "bind"
    )


@pytest.mark.parametrize(
    ("service", "variable", "volume"),
    [
        ("stream-worker", "HF_HOME", "hf-cache"),
        ("stream-worker", "TTS_HOME", "tts-cache"),
        ("stream-worker", "LIVEDUB_MODEL_DIR", "model-cache"),
        ("stream-worker", "LIVEDUB_DATA_DIR", "livedub-data"),
        ("stream-worker-gpu", "HF_HOME", "hf-cache"),
        ("stream-worker-gpu", "TTS_HOME", "tts-cache"),
        ("stream-worker-gpu", "LIVEDUB_MODEL_DIR", "model-cache"),
        ("stream-worker-gpu", "LIVEDUB_DATA_DIR", "livedub-data"),
        ("stream-orchestration", "LIVEDUB_DATA_DIR", "livedub-data"),
    ],
)
def test_cache_directories_are_named_volumes_where_the_settings_point(
    everything: dict[str, Any], service: str, variable: str, volume: str
) -> None:
    directory = _env(everything["services"][service])[variable]
    mounts = {v["target"]: v for v in everything["services"][service]["volumes"]}
    assert directory in mounts, f"{variable}={directory} is not a mounted volume in {service}"
    assert mounts[directory]["type"] == "volume" and mounts[directory]["source"] == volume
    assert volume in everything["volumes"]


def test_recordings_volume_is_where_mediamtx_records_by_default(everything: dict[str, Any]) -> None:
    # MediaMTX runs in / and records to ./recordings/%path/... unless mediamtx.yml says otherwise
    mounts = {v["target"]: v.get("source") for v in everything["services"]["mediamtx"]["volumes"]}
    assert mounts["/recordings"] == "recordings"


def test_published_ports(everything: dict[str, Any]) -> None:
    def published(name: str) -> dict[int, str]:
        return {int(p["target"]): p.get("host_ip", "") for p in everything["services"][name].get("ports", [])}

    mediamtx = published("mediamtx")
    assert {1935, 8554, 8888, 8889, 8189, 9996, 9997, 9998} <= set(mediamtx)
    assert published("stream-orchestration") == {8080: "127.0.0.1"}, (
        "the orchestrator has no auth: localhost only"
    )
    for name in WORKER_SERVICES.values():
        assert not published(name), "worker hosts are reached over the compose network only"


def test_the_orchestrator_never_gets_the_docker_socket(everything: dict[str, Any]) -> None:
    for name, service in everything["services"].items():
        for volume in service.get("volumes", []):
            assert "docker.sock" not in str(volume.get("source", "")), name
        assert not service.get("privileged"), name


def test_settings_file_reaches_livedub_services_and_the_wiring_wins(tmp_path: Path) -> None:
    dotenv = "WORKER_TARGET_LANG=fr\nORCH_HTTP_ADDR=127.0.0.1:9\nMEDIA_HOST=127.0.0.1\nEGRESS_URL=rtmp://x/secret\n"
    services = resolved_compose(tmp_path, "cpu", "gpu", dotenv=dotenv)["services"]
    for name in LIVEDUB_SERVICES:
        env = _env(services[name])
        assert env["WORKER_TARGET_LANG"] == "fr"
        assert env["MEDIA_HOST"] == "mediamtx"
    assert _env(services["stream-orchestration"])["ORCH_HTTP_ADDR"] == "0.0.0.0:8080"
    assert "EGRESS_URL" not in _env(services["mediamtx"]), "the media server never sees egress stream keys"


def test_compose_builds_only_dockerfiles_that_exist(tmp_path: Path) -> None:
    services = resolved_compose(tmp_path, "cpu", "gpu")["services"]
    built = set()
    for name, service in services.items():
        build = service.get("build")
        if build:
            # contexts were resolved against the hermetic copy: map them back onto the repository
            dockerfile = ROOT / Path(build["context"]).relative_to(tmp_path) / build["dockerfile"]
            assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
            built.add(dockerfile)
    assert built == {
        ROOT / "deploy/mediamtx/Dockerfile",
        ROOT / "deploy/orchestrator/Dockerfile",
        ROOT / "apps/stream-worker/Dockerfile",
    }


def test_mediamtx_config_runs_the_mounted_hook_and_serves_the_api() -> None:
    # deploy/mediamtx/mediamtx.yml and hook.sh belong to the MediaMTX configuration change; this is
    # the contract between them and the compose file: where the hook is, and the API healthcheck
    config = ROOT / "deploy/mediamtx/mediamtx.yml"
    assert config.is_file(), "deploy/mediamtx/mediamtx.yml is missing (compose mounts it at /mediamtx.yml)"
    text = config.read_text()
    assert "/hooks/hook.sh" in text, "compose mounts deploy/mediamtx/hook.sh at /hooks/hook.sh"
    assert re.search(r"^api:\s*(yes|true)\b", text, re.MULTILINE), (
        "the healthcheck and reconciliation use the API"
    )
    hook = ROOT / "deploy/mediamtx/hook.sh"
    assert hook.is_file()
    if not re.search(r"\bsh\s+/hooks/hook\.sh", text):
        assert os.access(hook, os.X_OK), "mediamtx.yml runs /hooks/hook.sh directly: it must be executable"


def test_the_hook_token_reaches_the_hook_program_and_nothing_else_of_the_settings_file(tmp_path: Path) -> None:
    compose_file = hermetic_compose_copy(tmp_path, "ORCH_HOOK_TOKEN=tok-123\nEGRESS_URL=rtmp://x/secret\n")
    result = run_compose(compose_file, "--env-file", str(tmp_path / ".env"), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert _env(services["mediamtx"])["ORCH_HOOK_TOKEN"] == "tok-123"
    assert _env(services["stream-orchestration"])["ORCH_HOOK_TOKEN"] == "tok-123"
    assert "EGRESS_URL" not in _env(services["mediamtx"])
