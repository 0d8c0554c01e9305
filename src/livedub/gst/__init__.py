"""The one place that imports and initialises GStreamer (PyGObject). Everything else imports from here.

``from livedub.gst import Gst, GLib`` gives initialised modules; a machine without
PyGObject or GStreamer gets :class:`GstUnavailable` with the fix, not an ImportError deep inside.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

INSTALL_HINT = "run ./scripts/install.sh (PyGObject + GStreamer 1.22 plugins), then `livedub doctor`"


class GstUnavailable(RuntimeError):
    """PyGObject, GStreamer or one of the elements the worker needs is missing."""


try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstApp", "1.0")
    from gi.repository import GLib, Gst, GstApp
except (ImportError, ValueError) as exc:  # pragma: no cover - depends on the machine
    _IMPORT_ERROR: Exception | None = exc
    Gst = GLib = GstApp = None  # type: ignore[assignment]
else:
    _IMPORT_ERROR = None
    Gst.init(None)

# every element the two pipelines can create, checked once at start
REQUIRED_ELEMENTS: tuple[str, ...] = (
    "rtmp2src", "rtspsrc", "flvdemux", "rtph264depay", "rtpmp4gdepay", "rtpmp4adepay",
    "h264parse", "h264timestamper", "aacparse", "avdec_aac", "audioconvert", "audioresample", "capsfilter",
    "queue", "appsink", "appsrc", "avenc_aac", "flvmux", "rtmp2sink", "fakesink",
)


def require_gst(elements: tuple[str, ...] = REQUIRED_ELEMENTS) -> None:
    """Raise :class:`GstUnavailable` naming what is missing and how to install it."""
    if _IMPORT_ERROR is not None:
        raise GstUnavailable(f"PyGObject/GStreamer not importable ({_IMPORT_ERROR}); {INSTALL_HINT}")
    missing = [name for name in elements if Gst.ElementFactory.find(name) is None]
    if missing:
        raise GstUnavailable(f"GStreamer element(s) missing: {', '.join(missing)}; {INSTALL_HINT}")


def make(factory: str, name: str | None = None, **props: Any) -> Any:
    """Create an element and set properties (``config_interval=-1`` -> ``config-interval``, ``async_`` -> ``async``)."""
    element = Gst.ElementFactory.make(factory, name)
    if element is None:
        raise GstUnavailable(f"GStreamer element {factory!r} missing; {INSTALL_HINT}")
    for key, value in props.items():
        element.set_property(key.rstrip("_").replace("_", "-"), value)
    return element


def link_many(*elements: Any) -> None:
    for upstream, downstream in pairwise(elements):
        if not upstream.link(downstream):
            raise RuntimeError(f"cannot link {upstream.get_name()} -> {downstream.get_name()}")


def running_time(segment: Any, timestamp: int) -> int | None:
    """A buffer timestamp in its segment's running time (ns), or None when it has none.

    Timestamps before the segment start (B-frame DTS) come back negative instead of being lost.
    """
    if timestamp == Gst.CLOCK_TIME_NONE:
        return None
    sign, value = segment.to_running_time_full(Gst.Format.TIME, timestamp)
    if sign == 0:
        return None
    return int(value) if sign > 0 else -int(value)
