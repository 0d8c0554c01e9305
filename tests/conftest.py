"""Shared by every test: the requirement policy (skip here, fail in CI; see tests/require.py)."""

pytest_plugins = ["tests.require"]
