"""The output pipeline: re-timestamped H.264 and processed PCM in, FLV over RTMP out.

    appsrc video (H.264 avc/au, live, time) ! h264parse config-interval=-1 ------------\\
    appsrc audio (S16LE 48k 2ch, live, time) ! audioconvert ! avenc_aac ! aacparse ---> flvmux streamable=true
                                                                                        ! rtmp2sink (sync, async=false)

Video is never decoded: the access units the input produced are pushed with new timestamps.
``h264parse config-interval=-1`` repeats SPS/PPS before every IDR so viewers joining late decode.
The sink syncs to the clock: buffers leave at base time + running time, and the worker sets the
base time so that running time 0 is the instant the first input buffer arrived (see timing.py).
The appsrcs are bounded by time and block when full, so a stuck output stalls the input instead
of growing memory or dropping.
"""

from __future__ import annotations

from typing import Any

from livedub.core.messages import SAMPLE_RATE
from livedub.gst import Gst, link_many, make
from livedub.media.paths import parse_rtmp_url
from livedub.worker.audio_path import RAW_CAPS, PcmChunk
from livedub.worker.output_core import VideoIn

AAC_BITRATE = 128_000
# avenc_aac (libav's AAC encoder) starts every stream with 1024 samples of priming that FLV cannot
# signal, so every player decodes them as audio: stamping audio this much earlier makes the decoded
# sound land exactly on its contract time (measured: without it, audio trails video by 21 ms).
ENCODER_PRIMING_NS = 1024 * 1_000_000_000 // SAMPLE_RATE
QUEUE_HEADROOM_NS = 2_000_000_000  # appsrc holds the constant delay plus this before blocking

class OutputPipeline:
    def __init__(self, url: str, delay_ns: int) -> None:
        target = parse_rtmp_url(url)
        self.pipeline = Gst.Pipeline.new("output")
        capacity_ns = delay_ns + QUEUE_HEADROOM_NS
        # max-latency tells the sink how much the appsrc can hold; left at its default the live
        # pipeline reports max < min latency ("please add queues") and the sink cannot sync right
        queue_limits = {"is_live": True, "format": Gst.Format.TIME, "do_timestamp": False, "block": True,
                        "max_bytes": 0, "max_buffers": 0, "max_time": capacity_ns, "min_latency": 0,
                        "max_latency": capacity_ns}
        self.video_src = make("appsrc", "video_src", **queue_limits)
        self.audio_src = make("appsrc", "audio_src", caps=Gst.Caps.from_string(RAW_CAPS), **queue_limits)
        video_parse = make("h264parse", "video_parse", config_interval=-1)
        audio_convert = make("audioconvert", "audio_convert")
        audio_encode = make("avenc_aac", "audio_encode", bitrate=AAC_BITRATE)
        audio_parse = make("aacparse", "audio_parse")
        mux = make("flvmux", "mux", streamable=True)
        sink = make("rtmp2sink", "sink", host=target.host, port=target.port, application=target.application,
                    stream=target.stream, scheme=target.scheme, sync=True, async_=False)
        for element in (self.video_src, video_parse, self.audio_src, audio_convert, audio_encode, audio_parse,
                        mux, sink):
            self.pipeline.add(element)
        link_many(self.video_src, video_parse)
        link_many(self.audio_src, audio_convert, audio_encode, audio_parse)
        if not (video_parse.link_pads("src", mux, "video") and audio_parse.link_pads("src", mux, "audio")):
            raise RuntimeError("cannot link the encoded tracks to flvmux")
        link_many(mux, sink)
        # No Python pad probe or signal on this pipeline: a streaming thread that had to wait for the
        # GIL (held by the STS threads) would hand flvmux its audio late, and flvmux would clamp the
        # late packets' timestamps (duplicate DTS for viewers). Positions are counted where buffers
        # are pushed (worker.py).
        self._video_caps: Any = None

    @property
    def bus(self) -> Any:
        return self.pipeline.get_bus()

    def start(self, clock: Any, base_time: int) -> bool:
        """Go live with running time 0 at ``base_time`` on ``clock`` (the input's first arrival)."""
        self.pipeline.use_clock(clock)
        self.pipeline.set_start_time(Gst.CLOCK_TIME_NONE)  # keep our base time on PAUSED -> PLAYING
        self.pipeline.set_base_time(base_time)
        return self.pipeline.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE

    # -- the output core's sink (output_core.OutputSink) -------------------------------------------
    def push_video(self, item: VideoIn, pts: int, dts: int | None) -> int:
        """An input access unit (``item.payload``: its buffer and caps) at output running time ``pts``."""
        buffer, caps = item.payload
        flags = (Gst.BufferCopyFlags.FLAGS | Gst.BufferCopyFlags.TIMESTAMPS | Gst.BufferCopyFlags.META
                 | Gst.BufferCopyFlags.MEMORY)
        out = buffer.copy_region(flags, 0, buffer.get_size())  # shares the memory, no copy
        out.pts = pts
        out.dts = dts if dts is not None else Gst.CLOCK_TIME_NONE
        if self._video_caps is None or not caps.is_equal(self._video_caps):
            self._video_caps = caps  # resolution or codec_data change: renegotiate in stream order
            self.video_src.set_caps(caps)
        self.video_src.push_buffer(out)
        return int(out.pts)

    def push_audio(self, chunk: PcmChunk, pts: int) -> int:
        """``pts``: when the audio must be heard (output running time); priming is compensated here.
        Returns when it will be heard: ``pts``, unless the stream's start cut the compensation short."""
        buffer = Gst.Buffer.new_wrapped(chunk.to_bytes())
        buffer.pts = max(0, pts - ENCODER_PRIMING_NS)
        buffer.duration = chunk.duration_ns
        self.audio_src.push_buffer(buffer)
        return int(buffer.pts) + ENCODER_PRIMING_NS

    def end_of_stream(self) -> None:
        self.video_src.end_of_stream()
        self.audio_src.end_of_stream()

    def latency_ns(self) -> int:
        """The pipeline's own latency (encoder frame, muxer), added on top of the constant delay (0: unknown)."""
        query = Gst.Query.new_latency()
        if not self.pipeline.query(query):
            return 0
        live, min_latency, _max = query.parse_latency()
        return int(min_latency) if live else 0

    def stop(self) -> None:
        self.pipeline.set_state(Gst.State.NULL)

