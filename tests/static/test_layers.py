"""Contracts live below the packages that use them: no module imports a package above its own.

Layers, lowest first: shared building blocks (config, obs, proc, gst, media, core, sts, ...), then the
worker and the egress forwarder, then the worker host, then the orchestrator, then the commands
(cli, stack, demo). A lower package never imports a higher one (the orchestrator's launcher, backoff and
the worker's exit codes used to sit above their users).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "livedub"

# package -> packages it must never import
FORBIDDEN = {
    "worker": ("orchestrator", "workerhost", "egress", "cli", "stack"),
    "egress": ("orchestrator", "workerhost", "worker", "cli", "stack"),
    "workerhost": ("orchestrator", "worker", "egress", "cli", "stack"),
    "cluster": ("orchestrator", "workerhost", "worker", "egress", "cli", "stack"),  # what runs on a Ray node
    "orchestrator": ("cli", "stack"),
    "demo": ("cli",),  # runs the local stack, like `livedub up`
    **{low: ("orchestrator", "workerhost", "worker", "egress", "cli", "stack")
       for low in ("config", "obs", "proc", "gst", "media", "core", "sts", "dubbing")},
}


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
        for name in names:
            parts = name.split(".")
            if len(parts) >= 2 and parts[0] == "livedub":
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_one_above_it(package: str) -> None:
    offenders = []
    for path in sorted((SRC / package).rglob("*.py")):
        bad = imported_packages(path) & set(FORBIDDEN[package])
        if bad:
            offenders.append(f"{path.relative_to(SRC)} imports livedub.{', livedub.'.join(sorted(bad))}")
    assert offenders == []


def test_the_layer_table_knows_every_package() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages - set(FORBIDDEN) <= {"cli"}, "a new package needs its place in FORBIDDEN"
