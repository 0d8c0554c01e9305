"""The requirement policy (tests/require.py): a missing requirement skips here and fails in CI."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CASES = '''
import pytest
from tests.require import missing, require, requires

def test_required_tool():
    require(False, "frobnicator not installed")

def test_gpu_only():
    missing("no CUDA device", gpu=True)

@requires(False, "nginx not installed")
def test_mark():
    pass

def test_plain_skip():
    pytest.skip("someone skipped by hand")

@pytest.fixture
def needs_tool():
    missing("tool for the fixture not installed")

def test_fixture(needs_tool):
    pass

def test_met():
    require(True, "always there")
'''

MODULE_SKIP = '''
import pytest
pytest.importorskip("no_such_module_livedub")

def test_never_collected():
    pass
'''


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    pytester.makepyfile(test_cases=CASES, test_module_skip=MODULE_SKIP)

    def go(require_value: str | None) -> pytest.RunResult:
        if require_value is None:
            monkeypatch.delenv("TESTS_REQUIRE", raising=False)
        else:
            monkeypatch.setenv("TESTS_REQUIRE", require_value)
        return pytester.runpytest_inprocess("-p", "tests.require", "-rfEs", "--continue-on-collection-errors")

    return go


def test_missing_requirements_skip_by_default(run) -> None:
    result = run(None)
    result.assert_outcomes(passed=1, skipped=6)
    result.stdout.fnmatch_lines(["*GPU only: no CUDA device*"])


def test_under_require_all_every_skip_fails_except_gpu_only(run) -> None:
    result = run("all")
    # in the test: failed; in setup (the mark, the fixture) and at collection (the module): an error
    result.assert_outcomes(passed=1, skipped=1, failed=2, errors=3)
    result.stdout.fnmatch_lines_random([
        "*TESTS_REQUIRE=all and a requirement is missing: frobnicator not installed*",
        "*TESTS_REQUIRE=all requires it: nginx not installed*",
        "*TESTS_REQUIRE=all requires it: someone skipped by hand*",
        "*TESTS_REQUIRE=all and a requirement is missing: tool for the fixture not installed*",
        "*GPU only: no CUDA device*",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_misspelt_value_is_a_usage_error(run) -> None:
    assert run("yes").ret == pytest.ExitCode.USAGE_ERROR
