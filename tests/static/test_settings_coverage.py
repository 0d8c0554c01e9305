"""The Docker files use only settings livedub defines, and .env.example documents every one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from livedub.config import known_env_vars
from livedub.config.loader import FAMILIES
from tests.static._repo import ROOT, dockerfiles, parse_dockerfile, resolved_compose

KNOWN = {doc.name: doc for doc in known_env_vars()}
# settings whose variable is not in one of our prefixed families
UNPREFIXED = {name for name in KNOWN if not name.startswith(FAMILIES)}


def _ours(name: str) -> bool:
    return name.startswith(FAMILIES) or name in UNPREFIXED


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return resolved_compose(tmp_path_factory.mktemp("compose"), "cpu", "gpu")["services"]


def test_compose_environment_uses_only_known_settings(services: dict[str, Any]) -> None:
    for name, service in services.items():
        unknown = sorted(var for var in (service.get("environment") or {}) if _ours(var) and var not in KNOWN)
        assert not unknown, f"{name}: {unknown} are not livedub settings (livedub would refuse to start)"


def test_compose_sets_no_secret(services: dict[str, Any]) -> None:
    secrets = {name for name, doc in KNOWN.items() if doc.secret}
    assert {"EGRESS_URL", "ORCH_HOOK_TOKEN"} <= secrets
    raw = (ROOT / "deploy" / "docker-compose.yml").read_text()
    for name, service in services.items():
        for var in secrets & set(service.get("environment") or {}):
            # only handed on from the operator's settings (`${VAR:-}`), never a value in the file
            assert (service["environment"][var] or "") == "", f"{name}: {var} has a committed value"
            assert f'{var}: "${{{var}:-}}"' in raw, f"{name}: secrets come from .env only"


def _dockerfile_env(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for ins in parse_dockerfile(path):
        if ins.keyword == "ENV":
            found.update(dict(re.findall(r"(\w+)=(\S+)", ins.args)))
    return found


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfile_env_uses_only_known_settings(dockerfile: Path) -> None:
    env = _dockerfile_env(dockerfile)
    unknown = sorted(var for var in env if _ours(var) and var not in KNOWN)
    assert not unknown, f"{dockerfile.relative_to(ROOT)}: {unknown} are not livedub settings"
    assert not {name for name, doc in KNOWN.items() if doc.secret} & set(env), "no secrets in images"


def test_images_and_compose_agree_on_cache_directories(services: dict[str, Any]) -> None:
    image = _dockerfile_env(ROOT / "apps/stream-worker/Dockerfile")
    for name in ("stream-worker", "stream-worker-gpu"):
        env = services[name]["environment"]
        for var in ("HF_HOME", "TTS_HOME", "LIVEDUB_MODEL_DIR", "LIVEDUB_DATA_DIR"):
            assert image[var] == env[var], f"{var}: image {image[var]} vs compose {env[var]}"


def test_env_example_documents_every_setting() -> None:
    documented = set(re.findall(r"^# ([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    missing = sorted(set(KNOWN) - documented)
    assert not missing, f"regenerate: livedub config --env-example > .env.example (missing {missing})"
