"""Every Dockerfile: hadolint-clean, and installing from the one recipe the native install uses.

The rule ("same recipe"): a livedub image copies ``packaging/`` and ``scripts/install.sh`` and
runs the script for its system packages (``--system-only``) and its Python packages
(``--no-apt``). A Dockerfile may name apt packages itself only to bootstrap that script on a base
without Python 3.10 (``BOOTSTRAP_APT``), and never installs Python packages with pip directly.
The MediaMTX image is upstream's, extended only with what the hook program runs (``HOOK_APK``).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.require import require
from tests.static._repo import (
    INSTALL_SH,
    ROOT,
    Instruction,
    dockerfiles,
    from_images,
    hadolint_binary,
    install_sh_options,
    package_list,
    parse_dockerfile,
    stage_aliases,
)

# Packages a Dockerfile may install itself: Python 3.10 with venv and headers, on a base without it.
BOOTSTRAP_APT = {"python3.10", "python3.10-venv", "python3.10-dev"}
# What the MediaMTX image adds to upstream's Alpine variant for the hook program and healthcheck.
HOOK_APK = {"curl", "jq", "ca-certificates"}
LIVEDUB_IMAGES = {"apps/stream-worker/Dockerfile", "deploy/orchestrator/Dockerfile"}
ALL_LISTED = {
    name for lst in ("apt-runtime.txt", "apt-build.txt", "apt-test.txt") for name in package_list(lst)
}

ALL_DOCKERFILES = dockerfiles()
IDS = [str(p.relative_to(ROOT)) for p in ALL_DOCKERFILES]


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _runs(instructions: list[Instruction]) -> list[Instruction]:
    return [ins for ins in instructions if ins.keyword == "RUN"]


def _installed_by(command: str, manager: str) -> list[str]:
    """Package names after ``apt-get install`` / ``apk add`` in a shell command (options dropped)."""
    names: list[str] = []
    for segment in re.split(r"&&|\|\||;|\|", command):
        try:
            words = shlex.split(segment, comments=False)
        except ValueError:  # a quote split by the separators above: words are still words
            words = segment.split()
        for i, word in enumerate(words):
            if manager == "apt" and word in ("apt-get", "apt") and "install" in words[i + 1 :]:
                rest = words[words.index("install", i) + 1 :]
                names += [w for w in rest if not w.startswith("-")]
            if manager == "apk" and word == "apk" and words[i + 1 : i + 2] == ["add"]:
                names += [w for w in words[i + 2 :] if not w.startswith("-")]
    return names


def test_the_expected_dockerfiles_exist() -> None:
    assert LIVEDUB_IMAGES | {"deploy/mediamtx/Dockerfile"} <= set(IDS)


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=IDS)
def test_hadolint(dockerfile: Path) -> None:
    result = subprocess.run(
        [str(hadolint_binary()), "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=IDS)
def test_base_images_are_pinned(dockerfile: Path) -> None:
    instructions = parse_dockerfile(dockerfile)
    aliases = stage_aliases(instructions)
    for image in from_images(instructions):
        if image.startswith("base-$") or image in aliases:
            continue  # a stage of this file
        tag = image.partition(":")[2]
        assert tag and tag != "latest" and not tag.startswith("$"), (
            f"{_rel(dockerfile)}: {image} is not pinned"
        )


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=IDS)
def test_no_python_packages_outside_the_recipe(dockerfile: Path) -> None:
    for ins in _runs(parse_dockerfile(dockerfile)):
        assert not re.search(r"\b(pip3?|uv|conda|poetry)\b[^&;|]*\binstall\b", ins.args), (
            f"{_rel(dockerfile)}:{ins.line}: Python packages come from pyproject.toml via scripts/install.sh"
        )


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=IDS)
def test_apt_packages_come_from_the_package_lists(dockerfile: Path) -> None:
    for ins in _runs(parse_dockerfile(dockerfile)):
        literal = set(_installed_by(ins.args, "apt"))
        assert literal <= BOOTSTRAP_APT, (
            f"{_rel(dockerfile)}:{ins.line}: apt packages {sorted(literal - BOOTSTRAP_APT)} belong in "
            "packaging/*.txt (installed by scripts/install.sh), not in a Dockerfile"
        )
    assert not (BOOTSTRAP_APT & ALL_LISTED), "a bootstrap package is also in packaging/: keep one place"


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=IDS)
def test_apk_only_extends_the_mediamtx_image_for_its_hook(dockerfile: Path) -> None:
    instructions = parse_dockerfile(dockerfile)
    added = {name for ins in _runs(instructions) for name in _installed_by(ins.args, "apk")}
    if not added:
        return
    assert all(image.startswith("bluenviron/mediamtx:") for image in from_images(instructions)), _rel(
        dockerfile
    )
    assert added <= HOOK_APK, f"{_rel(dockerfile)}: unexpected apk packages {sorted(added - HOOK_APK)}"


@pytest.mark.parametrize("name", sorted(LIVEDUB_IMAGES))
def test_livedub_images_install_through_the_one_recipe(name: str) -> None:
    instructions = parse_dockerfile(ROOT / name)
    copies = " ".join(ins.args for ins in instructions if ins.keyword == "COPY")
    assert re.search(r"(^|\s)packaging/?\s", copies), f"{name} must COPY packaging/"
    assert "scripts/install.sh" in copies, f"{name} must COPY scripts/install.sh"
    recipe_runs = [ins.args for ins in _runs(instructions) if "scripts/install.sh" in ins.args]
    assert any("--system-only" in run for run in recipe_runs), f"{name}: system packages via install.sh"
    assert any("--no-apt" in run for run in recipe_runs), f"{name}: Python packages via install.sh"
    # the dependency layer comes before the sources, so editing src/ does not reinstall everything
    order = [ins.args for ins in instructions if ins.keyword in ("COPY", "RUN")]
    first_src = next(i for i, args in enumerate(order) if args.startswith("src/"))
    assert any("--no-apt" in args for args in order[:first_src]), (
        f"{name}: install dependencies before COPY src/"
    )


@pytest.mark.parametrize("name", sorted(LIVEDUB_IMAGES))
def test_install_flags_used_by_images_exist(name: str) -> None:
    known = install_sh_options()
    for ins in _runs(parse_dockerfile(ROOT / name)):
        for command in re.findall(r"scripts/install\.sh([^&;|]*)", ins.args):
            for flag in re.findall(r"(?<!\S)--[\w-]+", command):
                assert flag in known, f"{name}:{ins.line}: scripts/install.sh has no option {flag}"


def test_install_recipe_parses_the_image_flags_without_installing() -> None:
    # --system-only with --no-apt parses every option and stops before touching anything
    flags = ["--no-apt", "--venv", "/nonexistent", "--no-editable", "--models", "--gpu", "--no-prepare"]
    result = subprocess.run(
        ["bash", str(INSTALL_SH), *flags, "--system-only"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    bad = subprocess.run(
        ["bash", str(INSTALL_SH), "--no-apt", "--system-only", "--bogus"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert bad.returncode == 2 and "--bogus" in bad.stderr


def test_native_install_reads_the_same_lists() -> None:
    recipe = INSTALL_SH.read_text()
    for name in ("apt-runtime.txt", "apt-build.txt", "apt-test.txt", "brew.txt"):
        assert f"packaging/{name}" in recipe
    # the native recipe has no literal package names of its own either
    for package in ALL_LISTED:
        assert not re.search(rf"apt-get install[^\n]*\b{re.escape(package)}\b", recipe), package


@pytest.mark.parametrize("name", sorted(LIVEDUB_IMAGES))
def test_livedub_images_run_as_a_non_root_user(name: str) -> None:
    users = [ins.args for ins in parse_dockerfile(ROOT / name) if ins.keyword == "USER"]
    assert users, f"{name} has no USER"
    uid = users[-1].split(":")[0]
    assert uid not in ("0", "root"), f"{name} runs as root"


def test_worker_has_one_dockerfile_for_cpu_and_gpu() -> None:
    instructions = parse_dockerfile(ROOT / "apps/stream-worker/Dockerfile")
    assert instructions[0].keyword == "ARG" and instructions[0].args == "TARGET=cpu"
    stages = {ins.stage: ins.args.split()[0] for ins in instructions if ins.keyword == "FROM"}
    assert re.fullmatch(r"python:3\.10-slim(-\w+)?", stages["base-cpu"])
    # one media stack for both: the gpu target's CUDA comes from wheels, found through LD_LIBRARY_PATH
    assert stages["base-gpu"] == stages["base-cpu"]
    gpu_env = " ".join(ins.args for ins in instructions if ins.keyword == "ENV" and ins.stage == "base-gpu")
    assert "nvidia/cublas/lib" in gpu_env and "nvidia/cudnn/lib" in gpu_env
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in gpu_env
    assert any(ins.keyword == "FROM" and ins.args.startswith("base-${TARGET}") for ins in instructions)
    gpu_runs = [
        ins.args for ins in _runs(instructions) if "scripts/install.sh" in ins.args and "--gpu" in ins.args
    ]
    assert gpu_runs, "the gpu target installs the gpu-models extra (install.sh --gpu)"


def test_dockerignore_keeps_secrets_and_caches_out_of_the_build_context() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert lines[0] == "**", "allow-list: ignore everything, then re-include what images need"
    allowed = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    assert not {".env", ".venv", "var", ".git", "tests"} & set(allowed)
    for needed in ("pyproject.toml", "packaging", "scripts/install.sh", "src"):
        assert needed in allowed, needed


# Base image -> (distribution, GStreamer, Python) as each distribution ships them. The worker needs
# GStreamer >= 1.22 (h264timestamper, its RTSP input) and the seed's Python 3.10.
@dataclass(frozen=True)
class Base:
    distribution: str
    debian_version: str | None  # /etc/debian_version's major, where the distribution is Debian
    gstreamer: tuple[int, int]
    python: tuple[int, int]


BASE_IMAGES = {
    "python:3.10-slim-bookworm": Base("Debian 12 bookworm", "12", (1, 22), (3, 10)),
    "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04": Base("Ubuntu 22.04 jammy", None, (1, 20), (3, 10)),
}
WORKER_NEEDS = {"gstreamer": (1, 22), "python": (3, 10)}


def _base_images(path: Path) -> list[str]:
    """The registry images a Dockerfile builds on (not its own stages, not the ARG-chosen one)."""
    instructions = parse_dockerfile(path)
    aliases = stage_aliases(instructions)
    return [image for image in from_images(instructions) if image not in aliases and "$" not in image]


@pytest.mark.parametrize("name", sorted(LIVEDUB_IMAGES))
def test_every_base_image_has_the_media_stack_and_python_the_worker_needs(name: str) -> None:
    for image in _base_images(ROOT / name):
        assert image in BASE_IMAGES, f"{name}: base image {image} is not in BASE_IMAGES (add its versions)"
        base = BASE_IMAGES[image]
        assert base.gstreamer >= WORKER_NEEDS["gstreamer"], f"{name}: {image} ({base.distribution}) has GStreamer {base.gstreamer}"
        assert base.python == WORKER_NEEDS["python"], f"{name}: {image} has Python {base.python}"


def test_the_base_table_matches_this_machine_where_it_is_that_distribution() -> None:
    """The bookworm row is what this (bookworm) machine has: the table is not a guess."""
    release = Path("/etc/debian_version").read_text().split(".")[0] if Path("/etc/debian_version").exists() else ""
    rows = [b for b in BASE_IMAGES.values() if b.debian_version == release]
    require(bool(rows) and shutil.which("gst-inspect-1.0") is not None,
            f"not a Debian release the table lists ({release or 'no /etc/debian_version'}), or no GStreamer")
    out = subprocess.run(["gst-inspect-1.0", "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"GStreamer (\d+)\.(\d+)", out)
    assert found and all((int(found[1]), int(found[2])) == row.gstreamer for row in rows), out
