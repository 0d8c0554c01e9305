"""Model packages livedub can use, by import name: (distribution, what it is for).

Filled in by the speech-to-speech work (issue #8); `livedub doctor` reports on each.
"""

from __future__ import annotations

MODEL_PACKAGES: dict[str, tuple[str, str]] = {}
