"""The code stays ruff-clean (pyflakes, pycodestyle, import order as configured in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.require import require

ROOT = Path(__file__).resolve().parents[2]


def _ruff() -> str | None:
    candidate = Path(sys.executable).with_name("ruff")
    return str(candidate) if candidate.exists() else shutil.which("ruff")


def test_ruff_finds_nothing() -> None:
    ruff = _ruff()
    require(ruff is not None, "ruff is not installed (it is in the dev extra: ./scripts/install.sh --test)")
    result = subprocess.run([ruff, "check", "--no-cache", "src", "tests", "bench"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
