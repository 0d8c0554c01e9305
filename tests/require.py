"""What a test needs from the machine, in one place: skipped on a laptop, a failure in CI.

    require(shutil.which("jq") is not None, "jq is not installed (apt-get install jq)")
    pytestmark = requires(media_tools_available(), "ffmpeg/ffprobe not installed")

A missing requirement skips the test with its reason. With ``TESTS_REQUIRE=all`` (``.ci/run`` sets
it) every skip is a failure instead, whoever raised it (this helper, ``skipif``, ``importorskip``),
except requirements marked ``gpu=True``: a CPU-only CI machine cannot have them.

The variable is deliberately outside livedub's families (``LIVEDUB_``, ``WORKER_``...): the
``livedub`` commands the tests run inherit the environment and reject unknown variables there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import pytest

REQUIRE_VAR = "TESTS_REQUIRE"
GPU_ONLY = "GPU only: "  # prefix of the skip reasons TESTS_REQUIRE=all lets through


def strict() -> bool:
    """Whether every non-GPU requirement must be met (``TESTS_REQUIRE=all``)."""
    value = os.environ.get(REQUIRE_VAR, "")
    if value not in ("", "all"):
        raise pytest.UsageError(f"{REQUIRE_VAR}={value!r}: expected 'all' or unset")
    return value == "all"


def _reason(reason: str, gpu: bool) -> str:
    return GPU_ONLY + reason if gpu else reason


def missing(reason: str, *, gpu: bool = False) -> NoReturn:
    """Skip the running test (or fixture) for ``reason``; under TESTS_REQUIRE=all, fail it."""
    __tracebackhide__ = True  # the report points at the caller
    if strict() and not gpu:
        pytest.fail(f"{REQUIRE_VAR}=all and a requirement is missing: {reason}", pytrace=False)
    pytest.skip(_reason(reason, gpu))


def require(available: bool, reason: str, *, gpu: bool = False) -> None:
    """:func:`missing` unless ``available``."""
    __tracebackhide__ = True
    if not available:
        missing(reason, gpu=gpu)


def requires(available: bool, reason: str, *, gpu: bool = False) -> pytest.MarkDecorator:
    """The mark form of :func:`require`, for a test or a module's ``pytestmark``."""
    return pytest.mark.skipif(not available, reason=_reason(reason, gpu))


def _skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    """Turn a skip report into a failure unless it is GPU-only (under TESTS_REQUIRE=all)."""
    if not (report.skipped and strict()):
        return
    reason = _skip_reason(report)
    if reason.startswith(GPU_ONLY) or getattr(report, "wasxfail", None) is not None:
        return
    report.outcome = "failed"
    report.longrepr = f"skipped, but {REQUIRE_VAR}=all requires it: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    _fail_skip(outcome.get_result())


def pytest_configure(config: pytest.Config) -> None:
    strict()  # a misspelt value fails before anything runs
