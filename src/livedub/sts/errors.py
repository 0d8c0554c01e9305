"""STS errors, classified for the core: ``retryable=False`` opens the breaker at once.

All of them are :class:`livedub.core.processor.StsError`, the one exception type the streaming
core classifies; any other exception escaping a stage is a bug, not a decision.
"""

from __future__ import annotations

from livedub.core.processor import StsError, Unavailable

__all__ = ["ModelDownloadRequired", "ModelNotPrepared", "ProviderUnavailable", "StsError", "Unavailable",
           "UnsupportedLanguage"]


class ProviderUnavailable(Unavailable):
    """A provider's Python package or native tool is missing. Says which extra/package installs it."""

    def __init__(self, message: str, *, fix: str) -> None:
        super().__init__(f"{message}; fix: {fix}")
        self.fix = fix


class ModelNotPrepared(Unavailable):
    """Packaged model files are installed but not assembled into LIVEDUB_MODEL_DIR yet."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}; fix: run `livedub models prepare`")


DOWNLOAD_FIX = ("fetch the selected models once with `livedub models download` "
                "(network access, HF_HUB_OFFLINE unset), or choose a packaged provider (`livedub models list`)")


class ModelDownloadRequired(Unavailable):
    """A production model is not in its cache and cannot be downloaded: offline, the Hub unreachable, or no such
    model on the Hub."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(f"{message}; {fix or DOWNLOAD_FIX}")


class UnsupportedLanguage(Unavailable):
    """No installed provider handles this language (pair) or voice."""
