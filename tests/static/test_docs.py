"""The deployment docs name the same images and ports as the files they describe."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.static._repo import ROOT, from_images, parse_dockerfile, resolved_compose


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return resolved_compose(tmp_path_factory.mktemp("compose"), "cpu", "gpu")["services"]


def test_worker_readme_names_the_base_images_the_dockerfile_uses() -> None:
    readme = (ROOT / "apps/stream-worker/README.md").read_text()
    for image in from_images(parse_dockerfile(ROOT / "apps/stream-worker/Dockerfile")):
        if not image.startswith("base-"):
            assert image in readme, f"apps/stream-worker/README.md does not mention {image}"


def test_mediamtx_image_tag_matches_its_dockerfile(services: dict[str, Any]) -> None:
    (upstream,) = from_images(parse_dockerfile(ROOT / "deploy/mediamtx/Dockerfile"))
    version = re.fullmatch(r"bluenviron/mediamtx:(\d+\.\d+\.\d+)-ffmpeg", upstream)
    assert version, upstream
    assert services["mediamtx"]["image"].endswith(":" + version.group(1))


@pytest.mark.parametrize("doc", ["docs/deploy-macos.md", "docs/deploy-aws-gpu.md"])
def test_deploy_docs_cover_every_published_port(services: dict[str, Any], doc: str) -> None:
    text = (ROOT / doc).read_text()
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port["target"]) in text, f"{doc} does not document port {port['target']} of {name}"


def test_docs_use_the_compose_file_and_profiles_that_exist() -> None:
    for doc in (Path("docs/deploy-macos.md"), Path("docs/deploy-aws-gpu.md")):
        for profile in re.findall(r"--profile (\w+)", (ROOT / doc).read_text()):
            assert profile in {"cpu", "gpu"}, f"{doc}: unknown profile {profile}"
        assert "-f deploy/docker-compose.yml" in (ROOT / doc).read_text()
