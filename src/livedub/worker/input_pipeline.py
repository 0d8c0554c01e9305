"""The input pipeline: pull the stream, expose H.264 access units and decoded PCM through appsinks.

    rtmp2src (host/port/application/stream) ! flvdemux --video--> queue ! h264parse ! avc/au ! appsink
                                                      \\-audio--> queue ! aacparse ! avdec_aac ! audioconvert
                                                                  ! audioresample ! S16LE/48k/2ch ! appsink
    rtspsrc protocols=tcp --RTP H.264--> rtph264depay ! (video branch as above)
                          \\-RTP AAC---> rtpmp4gdepay | rtpmp4adepay ! (audio branch as above)

Branches are linked when the demuxer announces a pad, after :func:`caps.classify` accepted its
caps; a pad with another codec goes to a fakesink (so the demuxer never stalls on an unlinked
pad) and is reported to the worker, which exits with UNSUPPORTED_INPUT.
"""

from __future__ import annotations

from typing import Any, Protocol

from livedub.gst import Gst, link_many, make
from livedub.gst.caps import Track, TrackInfo, UnsupportedInput
from livedub.gst.source import add_source, discard_pad, link_pad, pad_track
from livedub.worker.audio_path import RAW_CAPS

RTSP_LATENCY_MS = 200  # rtspsrc jitter buffer; MediaMTX on the same host needs little
APPSINK_MAX_BUFFERS = 64  # bounded: a slow consumer stalls the input instead of growing memory


class InputEvents(Protocol):
    """Called from GStreamer streaming threads: implementations must be quick and thread-safe."""

    def on_track(self, info: TrackInfo) -> None: ...
    def on_unsupported(self, error: UnsupportedInput) -> None: ...
    def on_sample(self, track: Track, sample: Any) -> None: ...


class InputPipeline:
    def __init__(self, url: str, events: InputEvents, idle_timeout_s: int) -> None:
        self.events = events
        self.pipeline = Gst.Pipeline.new("input")
        self._linked: set[Track] = set()
        add_source(self.pipeline, url, self._on_pad_added, idle_timeout_s=idle_timeout_s,
                   rtsp_latency_ms=RTSP_LATENCY_MS, rtsp_buffer_mode="none")

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def bus(self) -> Any:
        return self.pipeline.get_bus()

    def start(self) -> bool:
        return self.pipeline.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE

    def stop(self) -> None:
        self.pipeline.set_state(Gst.State.NULL)

    # -- pads (streaming thread) ---------------------------------------------------------------
    def _on_pad_added(self, _element: Any, pad: Any) -> None:
        try:
            info = pad_track(pad)
        except UnsupportedInput as exc:
            discard_pad(self.pipeline, pad)
            self.events.on_unsupported(exc)
            return
        if info is None or info.track in self._linked:
            discard_pad(self.pipeline, pad)  # metadata tracks, or a second track of the same kind
            return
        elements = self._branch(info)
        for element in elements:
            self.pipeline.add(element)
        link_many(*elements)
        for element in elements:
            element.sync_state_with_parent()
        link_pad(pad, elements[0], f"input {info.track.value}")
        self._linked.add(info.track)
        self.events.on_track(info)

    def _branch(self, info: TrackInfo) -> list[Any]:
        name = info.track.value
        head = [make(info.depayloader, f"{name}_depay")] if info.depayloader else []
        sink = make("appsink", f"{name}_sink", emit_signals=True, sync=False, async_=False,
                    max_buffers=APPSINK_MAX_BUFFERS, drop=False)
        sink.connect("new-sample", self._on_new_sample, info.track)
        if info.track is Track.video:
            caps = Gst.Caps.from_string("video/x-h264,stream-format=avc,alignment=au")
            stamp = [make("h264parse", f"{name}_preparse"), make("h264timestamper", f"{name}_stamp")] if head else []
            return [*head, *stamp, make("queue", f"{name}_queue"), make("h264parse", f"{name}_parse"),
                    make("capsfilter", f"{name}_caps", caps=caps), sink]
        caps = Gst.Caps.from_string(RAW_CAPS)
        return [*head, make("queue", f"{name}_queue"), make("aacparse", f"{name}_parse"),
                make("avdec_aac", f"{name}_dec"), make("audioconvert", f"{name}_convert"),
                make("audioresample", f"{name}_resample"), make("capsfilter", f"{name}_caps", caps=caps), sink]

    def _on_new_sample(self, sink: Any, track: Track) -> Any:
        sample = sink.emit("pull-sample")
        if sample is not None:
            self.events.on_sample(track, sample)
        return Gst.FlowReturn.OK
