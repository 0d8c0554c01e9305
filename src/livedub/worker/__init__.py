"""The stream worker: one process per stream, input -> audio path -> output, timestamps as the contract.

Modules: ``gst`` (the one GStreamer bootstrap), ``input_pipeline`` and ``output_pipeline`` (the two
GStreamer pipelines), ``audio_path`` (the seam where audio is dubbed), ``timing`` (the output =
input + constant delay contract), ``caps`` (what inputs are accepted), ``worker`` (lifecycle),
``metrics`` and ``exit_codes``. See docs/worker.md.
"""
