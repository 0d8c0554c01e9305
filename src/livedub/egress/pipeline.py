"""One forwarding attempt: pull ``live/<id>/out``, push it codec-copy to the destination.

    rtmp2src (host/port/application/stream) ! flvdemux --video--> queue ! h264parse --\\
                                                      \\-audio--> queue ! aacparse ----> flvmux streamable=true
    rtspsrc protocols=tcp --RTP H.264--> rtph264depay ! (video as above)             ! rtmp2sink (host/port/
                          \\-RTP AAC---> rtpmp4gdepay | rtpmp4adepay ! (audio as above)  application/stream)

Nothing is decoded. The destination is given to ``rtmp2sink`` as properties, never as a URL
string that could end up in a log. An attempt ends with an :class:`Outcome` saying which side
failed: the forwarder backs off on destination failures and retries the (local) source soon.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from livedub.egress.destination import Destination, Scrubber
from livedub.egress.forwarder import Outcome, Side
from livedub.gst import Gst, link_many, make
from livedub.gst.caps import Track, UnsupportedInput
from livedub.gst.source import add_source, bus_error, discard_pad, link_pad, pad_track

log = logging.getLogger(__name__)

SOURCE_IDLE_TIMEOUT_S = 5  # no data from the source this long: the attempt ends (the worker restarted?)
RTSP_LATENCY_MS = 200
POLL_S = 0.1  # how often the bus loop looks at the stop flag
EOS_DRAIN_S = 2.0  # on stop, time for EOS to reach the destination (a clean unpublish)
ELEMENTS = ("rtmp2src", "rtspsrc", "flvdemux", "rtph264depay", "rtpmp4gdepay", "rtpmp4adepay", "queue",
            "h264parse", "aacparse", "flvmux", "rtmp2sink", "fakesink")


class ForwardPipeline:
    def __init__(self, source_url: str, destination: Destination, scrub: Scrubber) -> None:
        self.scrub = scrub
        self.pipeline = Gst.Pipeline.new("forward")
        self._linked: set[Track] = set()
        self._first_buffer_at: float | None = None
        self._lock = threading.Lock()
        self._unsupported: str | None = None
        self.mux = make("flvmux", "mux", streamable=True)
        self.sink = make("rtmp2sink", "sink", host=destination.host, port=destination.port,
                         application=destination.application, stream=destination.stream,
                         scheme=destination.scheme, async_=False, sync=False)
        if destination.username:
            self.sink.set_property("username", destination.username)
        if destination.password:
            self.sink.set_property("password", destination.password)
        self.pipeline.add(self.mux)
        self.pipeline.add(self.sink)
        link_many(self.mux, self.sink)
        # both mux pads up front: flvmux writes its header once, with both tracks in it
        self._mux_pads = {Track.video: self.mux.request_pad_simple("video"),
                          Track.audio: self.mux.request_pad_simple("audio")}
        self.sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self._on_sink_buffer)
        add_source(self.pipeline, source_url, self._on_pad_added, idle_timeout_s=SOURCE_IDLE_TIMEOUT_S,
                   rtsp_latency_ms=RTSP_LATENCY_MS, rtsp_tcp_timeout_s=SOURCE_IDLE_TIMEOUT_S)

    # -- running ---------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> Outcome:
        """Play until the stop flag, an error or the end of the source; always leaves the pipeline NULL."""
        try:
            if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
                return self._outcome(*self._first_error(Side.source, "the pipeline could not start"))
            return self._loop(stop)
        finally:
            self.pipeline.set_state(Gst.State.NULL)

    def _loop(self, stop: threading.Event) -> Outcome:
        bus = self.pipeline.get_bus()
        kinds = Gst.MessageType.ERROR | Gst.MessageType.EOS
        announced = False
        while not stop.is_set():
            message = bus.timed_pop_filtered(int(POLL_S * Gst.SECOND), kinds)
            if not announced and self._first_buffer_at is not None:
                announced = True
                log.info("forwarding: media flows to the destination",
                         extra={"tracks": sorted(t.value for t in self._linked)})
            if self._unsupported is not None:
                return self._outcome(Side.source, self._unsupported)
            if message is None:
                continue
            if message.type == Gst.MessageType.EOS:
                return self._outcome(Side.source, "the source ended")
            return self._outcome(*self._describe_error(message))
        self._drain(bus)
        return self._outcome(Side.stopped, "stop requested")

    def _drain(self, bus: Any) -> None:
        """Send EOS so the destination sees a clean end of stream (bounded: a dead peer cannot hold us)."""
        if self._first_buffer_at is None:
            return
        self.pipeline.send_event(Gst.Event.new_eos())
        bus.timed_pop_filtered(int(EOS_DRAIN_S * Gst.SECOND), Gst.MessageType.ERROR | Gst.MessageType.EOS)

    def _first_error(self, side: Side, fallback: str) -> tuple[Side, str]:
        message = self.pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
        return self._describe_error(message) if message is not None else (side, fallback)

    def _describe_error(self, message: Any) -> tuple[Side, str]:
        origin, text, detail = bus_error(message)
        side = Side.destination if origin == "sink" else Side.source
        if detail:
            text += f" ({detail[:300]})"
        return side, self.scrub(text)

    def _outcome(self, side: Side, detail: str) -> Outcome:
        started = self._first_buffer_at
        return Outcome(side, self.scrub(detail), 0.0 if started is None else time.monotonic() - started)

    # -- streaming threads ---------------------------------------------------------------------------
    def _on_sink_buffer(self, _pad: Any, _info: Any) -> Any:
        if self._first_buffer_at is None:
            self._first_buffer_at = time.monotonic()
        return Gst.PadProbeReturn.OK

    def _on_pad_added(self, _element: Any, pad: Any) -> None:
        try:
            info = pad_track(pad)
        except UnsupportedInput as exc:
            self._unsupported = f"the source is not H.264 + AAC: {exc}"
            info = None
        with self._lock:
            if info is None or info.track in self._linked:
                discard_pad(self.pipeline, pad)
                return
            self._linked.add(info.track)
        name = info.track.value
        chain = [make(info.depayloader, f"{name}_depay")] if info.depayloader else []
        parser = "h264parse" if info.track is Track.video else "aacparse"
        chain += [make("queue", f"{name}_queue"), make(parser, f"{name}_parse")]
        for element in chain:
            self.pipeline.add(element)
        link_many(*chain)
        if chain[-1].get_static_pad("src").link(self._mux_pads[info.track]) != Gst.PadLinkReturn.OK:
            raise RuntimeError(f"cannot link the {name} track to flvmux")
        for element in chain:
            element.sync_state_with_parent()
        link_pad(pad, chain[0], f"source {name}")
