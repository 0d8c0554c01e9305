"""Egress: forward a stream's dubbed output (``live/<id>/out``) to a third-party RTMP destination.

``destination`` (parse ``EGRESS_URL``, keep its key out of every output), ``forwarder`` (the retry
loop, pure), ``pipeline`` (one GStreamer attempt, codec copy), ``run`` (``livedub forward``), and
``supervisor`` (the orchestrator's side: one forwarder process per stream with a worker).
"""
