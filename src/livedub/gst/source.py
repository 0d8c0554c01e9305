"""The one way livedub's pipelines read a stream (worker input, egress source), and their pad handling.

    rtmp2src (host/port/application/stream) ! flvdemux   --pad-added--> on_pad
    rtspsrc protocols=tcp                                --pad-added--> on_pad

Both pipelines then classify each new pad (:func:`pad_track`), link the tracks they want and send
the rest to a fakesink (:func:`discard_pad`), so a demuxer never stalls on an unlinked pad.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livedub.gst import Gst, link_many, make
from livedub.gst.caps import TrackInfo, classify
from livedub.media.paths import parse_rtmp_url, source_scheme


def add_source(pipeline: Any, url: str, on_pad: Callable[[Any, Any], None], *, idle_timeout_s: int,
               rtsp_latency_ms: int = 200, rtsp_tcp_timeout_s: int | None = None,
               rtsp_buffer_mode: str | None = None) -> None:
    """Add the elements that read ``url`` (rtmp[s]:// or rtsp[s]://) to ``pipeline``; ``on_pad`` gets
    every media pad they announce. Raises ValueError for another scheme."""
    scheme = source_scheme(url)
    if scheme.startswith("rtmp"):
        target = parse_rtmp_url(url)
        src = make("rtmp2src", "src", host=target.host, port=target.port, application=target.application,
                   stream=target.stream, scheme=scheme, idle_timeout=idle_timeout_s)
        demux = make("flvdemux", "demux")
        pipeline.add(src)
        pipeline.add(demux)
        link_many(src, demux)
        demux.connect("pad-added", on_pad)
        return
    src = make("rtspsrc", "src", location=url, latency=rtsp_latency_ms)
    Gst.util_set_object_arg(src, "protocols", "tcp")  # TCP only: no UDP ports, works through NAT
    if rtsp_tcp_timeout_s is not None:
        src.set_property("tcp-timeout", rtsp_tcp_timeout_s * 1_000_000)
    if rtsp_buffer_mode is not None:
        Gst.util_set_object_arg(src, "buffer-mode", rtsp_buffer_mode)
    pipeline.add(src)
    src.connect("pad-added", on_pad)


def pad_track(pad: Any) -> TrackInfo | None:
    """The track a new pad carries, None for one without caps or of no interest (metadata); raises
    :class:`~livedub.gst.caps.UnsupportedInput` for a codec other than H.264/AAC."""
    caps = pad.get_current_caps() or pad.query_caps(None)
    if caps is None or caps.get_size() == 0:
        return None
    return classify(caps.get_structure(0))


def link_pad(pad: Any, element: Any, what: str) -> None:
    """Link ``pad`` to ``element``'s sink pad; raises RuntimeError naming ``what`` when it cannot."""
    if pad.link(element.get_static_pad("sink")) != Gst.PadLinkReturn.OK:
        raise RuntimeError(f"cannot link the {what} pad")


def discard_pad(pipeline: Any, pad: Any) -> None:
    """Send a pad nobody wants to a fakesink, so its producer never stalls."""
    sink = make("fakesink", None, sync=False, async_=False)
    pipeline.add(sink)
    sink.sync_state_with_parent()
    pad.link(sink.get_static_pad("sink"))


def message_origin(message: Any) -> str:
    """The name of the element that posted a bus message ("?" when none)."""
    return message.src.get_name() if message.src is not None else "?"


def bus_error(message: Any) -> tuple[str, str, str]:
    """An ERROR bus message as (element name, "element: message", the debug string's detail)."""
    error, debug = message.parse_error()
    origin = message_origin(message)
    # the debug string is "file.c(line): function (): /element/path:\ndetail"; the detail is what helps
    detail = " ".join(line.strip() for line in (debug or "").splitlines()[1:] if line.strip())
    return origin, f"{origin}: {error.message}", detail
