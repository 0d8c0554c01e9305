"""FakeClock timers and virtual time; executors; the mock STS processors; config from settings."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from livedub.config import load_settings
from livedub.config.settings import Fallback, WorkerSettings
from livedub.core.clock import FakeClock, MonotonicClock
from livedub.core.config import CoreConfig
from livedub.core.executor import ManualExecutor, SimulatedExecutor, ThreadExecutor
from livedub.core.messages import AudioFragment
from livedub.core.mock_sts import FakeSts, PassThroughSts, ToneSts
from livedub.core.processor import StsError
from tests.unit.core.helpers import MS, SECOND, noise


def test_fake_clock_fires_timers_in_time_order_at_their_time() -> None:
    clock = FakeClock(0)
    fired: list[tuple[str, int]] = []
    clock.call_at(300, lambda: fired.append(("b", clock.now())))
    clock.call_at(100, lambda: fired.append(("a", clock.now())))
    clock.call_at(900, lambda: fired.append(("c", clock.now())))
    clock.advance_to(500)
    assert fired == [("a", 100), ("b", 300)]
    assert clock.now() == 500
    clock.call_at(200, lambda: fired.append(("past", clock.now())))  # already due: runs at once
    assert fired[-1] == ("past", 500)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_fake_clock_sleep_blocks_another_thread_until_advanced() -> None:
    clock = FakeClock(0)
    woke = threading.Event()

    def sleeper() -> None:
        clock.sleep(1000)
        woke.set()

    thread = threading.Thread(target=sleeper)
    thread.start()
    clock.advance(999)
    assert not woke.wait(0.05)
    clock.advance(1)
    assert woke.wait(5)
    thread.join(5)


def test_virtual_time_lets_a_job_sleep_without_anyone_advancing() -> None:
    clock = FakeClock(1000)
    with clock.virtual_time() as elapsed:
        clock.sleep(250)
        assert clock.now() == 1250
    assert elapsed.ns == 250 and clock.now() == 1000


def test_simulated_executor_completes_after_the_simulated_latency() -> None:
    clock = FakeClock(0)
    executor = SimulatedExecutor(clock)

    def slow() -> int:
        clock.sleep(700)
        return clock.now()

    future = executor.submit(slow)
    clock.advance(699)
    assert not future.done()
    clock.advance(1)
    assert future.result() == 700  # the job saw its own virtual time


def test_simulated_executor_delivers_exceptions() -> None:
    clock = FakeClock(0)

    def boom() -> None:
        raise StsError("nope")

    future = SimulatedExecutor(clock).submit(boom)
    assert isinstance(future.exception(), StsError)


def test_manual_executor_runs_jobs_when_told() -> None:
    executor = ManualExecutor()
    future = executor.submit(lambda: 42)
    assert not future.done() and len(executor.pending()) == 1
    executor.jobs[0].run()
    assert future.result() == 42 and executor.pending() == []
    with pytest.raises(RuntimeError):
        executor.jobs[0].run()


def test_thread_executor_runs_on_another_thread() -> None:
    executor = ThreadExecutor(2)
    try:
        assert executor.submit(threading.get_ident).result(timeout=10) != threading.get_ident()
    finally:
        executor.shutdown()


def test_monotonic_clock_moves_forward() -> None:
    clock = MonotonicClock()
    first = clock.now()
    clock.sleep(1 * MS)
    assert clock.now() - first >= 1 * MS


def fragment(sequence: int, seconds: float = 0.5) -> AudioFragment:
    samples = noise(seconds, seed=sequence)
    return AudioFragment(id=f"s-{sequence}", stream_id="s", sequence=sequence, start_pts=0,
                         duration=round(seconds * SECOND), samples=samples)


def test_tone_sts_is_deterministic_and_depends_on_the_sequence() -> None:
    sts = ToneSts()
    first, again, other = sts.process(fragment(0)), sts.process(fragment(0)), sts.process(fragment(1))
    np.testing.assert_array_equal(first.samples, again.samples)
    assert first.samples.shape == (24_000, 2)
    spectrum = np.abs(np.fft.rfft(first.samples[:, 0]))
    assert np.argmax(spectrum) * 48_000 / 24_000 == pytest.approx(440, abs=2)
    assert sts.frequency(1) != sts.frequency(0)
    assert not np.array_equal(first.samples, other.samples)


def test_pass_through_sts_returns_the_input() -> None:
    frag = fragment(3)
    out = PassThroughSts().process(frag)
    np.testing.assert_array_equal(np.rint(out.samples * 32768).astype(np.int16), frag.samples)


def test_fake_sts_latency_and_failures_follow_the_seed() -> None:
    clock = FakeClock()
    sts = FakeSts(clock, latency_ns=500 * MS, jitter_ns=400 * MS, failure_rate=0.3, seed=11)
    draws = [sts.draw(s) for s in range(200)]
    assert draws == [FakeSts(clock, latency_ns=500 * MS, jitter_ns=400 * MS, failure_rate=0.3, seed=11).draw(s)
                     for s in range(200)]
    latencies = [latency for latency, _ in draws]
    assert min(latencies) >= 100 * MS and max(latencies) <= 900 * MS
    assert 0.2 < sum(fails for _, fails in draws) / 200 < 0.4
    failing = next(s for s, (_, fails) in enumerate(draws) if fails)
    with clock.virtual_time() as elapsed, pytest.raises(StsError):
        sts.process(fragment(failing))
    assert elapsed.ns == draws[failing][0]


def test_core_config_from_settings() -> None:
    worker = load_settings(WorkerSettings, env={
        "WORKER_FRAGMENT_TARGET_DUR": "1s", "WORKER_FRAGMENT_MIN_DUR": "500ms", "WORKER_FRAGMENT_MAX_DUR": "1500ms",
        "WORKER_FRAGMENT_OVERLAP": "150ms", "WORKER_BUFFER_TARGET": "4s", "WORKER_FALLBACK": "silence",
        "WORKER_MAX_INFLIGHT": "5", "WORKER_BREAKER_COOLDOWN": "30s"})
    config = CoreConfig.from_settings(worker)
    assert config.fragmenter.target_ns == SECOND and config.fragmenter.overlap_ns == 150 * MS
    assert config.delay_ns == 4 * SECOND and config.fallback is Fallback.silence and config.max_inflight == 5
    assert config.breaker.cooldown_ns == 30 * SECOND


def test_a_delay_too_short_for_the_longest_fragment_is_refused() -> None:
    worker = load_settings(WorkerSettings, env={"WORKER_BUFFER_TARGET": "2s"})
    with pytest.raises(ValueError, match="WORKER_BUFFER_TARGET"):
        CoreConfig.from_settings(worker)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WORKER_FRAGMENT_TARGET_DUR": "3s"}, "WORKER_FRAGMENT_MAX_DUR"),
        ({"WORKER_FRAGMENT_MIN_DUR": "2s", "WORKER_FRAGMENT_MAX_DUR": "3s"}, "WORKER_FRAGMENT_TARGET_DUR"),
        ({"WORKER_FRAGMENT_OVERLAP": "400ms"}, "WORKER_FRAGMENT_OVERLAP"),
    ],
)
def test_inconsistent_fragment_lengths_are_refused_naming_the_variables(env: dict[str, str], named: str) -> None:
    from livedub.config import SettingsError

    with pytest.raises(SettingsError, match=named):
        load_settings(WorkerSettings, env=env)
