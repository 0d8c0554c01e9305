"""Fuzz the hook endpoints against the OpenAPI schema the service serves (schemathesis + hypothesis).

Generated bodies, valid by the schema and not, must get a documented status code and a body that
matches the documented schema; never a 5xx. The service runs for real on a free port.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from livedub.orchestrator.service import OrchestratorService

from .conftest import FakeLauncher, FakeMedia, orch_settings

ENDPOINTS = ["/v1/mediamtx/events/ready", "/v1/mediamtx/events/not-ready"]


@pytest.fixture(scope="module")
def orchestrator_url() -> Iterator[str]:
    service = OrchestratorService(orch_settings(max_workers=1000, grace_period="10ms"), FakeMedia(),
                                  launcher=FakeLauncher(), worker_env={}, reconcile=False)
    running = service.run_in_thread()
    try:
        yield running.url
    finally:
        running.stop()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_hook_endpoints_conform_to_their_schema(orchestrator_url: str, endpoint: str, mode: GenerationMode) -> None:
    raw = httpx.get(f"{orchestrator_url}/openapi.json", timeout=5).json()
    operation = schemathesis.openapi.from_dict(raw)[endpoint]["POST"]
    seen: set[int] = set()

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call(base_url=orchestrator_url, timeout=10)
        case.validate_response(response)  # status documented, body matches the documented schema
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.json()["error"], response.text
        seen.add(response.status_code)

    check()
    if mode == GenerationMode.POSITIVE:
        assert 202 in seen, seen  # schema-valid events are accepted
    else:
        assert seen and all(400 <= code < 500 for code in seen), seen


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(body=st.binary(max_size=512) | st.text(max_size=256).map(str.encode))
def test_arbitrary_bytes_never_crash_the_endpoint(orchestrator_url: str, body: bytes) -> None:
    response = httpx.post(f"{orchestrator_url}{ENDPOINTS[0]}", content=body,
                          headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code in (202, 400, 422), response.text
