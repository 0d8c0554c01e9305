"""Models load once per process: one shared instance per provider + load context + options.

Concurrent first calls for the same key wait for one load instead of loading twice. Failed loads
are not cached, so a fixed environment (models prepared, package installed) recovers on retry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from livedub.sts.registry import LoadContext, ProviderSpec

log = logging.getLogger(__name__)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


class ModelCache:
    def __init__(self, load_lock: Callable[[], AbstractContextManager[Any]] = threading.Lock) -> None:
        """``load_lock`` makes the lock one key's load is done under (a test can see who reaches it)."""
        self._lock = threading.Lock()
        self._instances: dict[Any, Any] = {}
        self._loading: dict[Any, AbstractContextManager[Any]] = {}
        self._load_lock = load_lock

    def key(self, provider: ProviderSpec, ctx: LoadContext, options: Mapping[str, Any]) -> Any:
        return (provider.stage.value, provider.name, ctx, _freeze({**provider.options, **options}))

    def get(self, provider: ProviderSpec, ctx: LoadContext, options: Mapping[str, Any]) -> Any:
        key = self.key(provider, ctx, options)
        with self._lock:
            if key in self._instances:
                return self._instances[key]
            load_lock = self._loading.setdefault(key, self._load_lock())
        with load_lock:
            with self._lock:
                if key in self._instances:
                    return self._instances[key]
            cls = provider.load_class()
            started = time.monotonic()
            instance = cls(ctx, **{**provider.options, **options})
            log.info("loaded %s provider %s in %.2f s", provider.stage.value, provider.name,
                     time.monotonic() - started)
            with self._lock:
                self._instances[key] = instance
                self._loading.pop(key, None)
            return instance

    def loaded(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(k[0], k[1]) for k in self._instances]

    def clear(self) -> None:
        with self._lock:
            instances = list(self._instances.values())
            self._instances.clear()
        for instance in instances:
            close = getattr(instance, "close", None)
            if callable(close):
                close()


MODELS = ModelCache()
