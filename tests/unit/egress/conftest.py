"""Fixtures shared with the orchestrator tests."""

from tests.unit.orchestrator.conftest import serve  # noqa: F401 - a shared fixture
