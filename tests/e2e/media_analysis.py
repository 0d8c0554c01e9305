"""Media analysis for the end-to-end tests: the marker stream, and what a recording contains.

The marker stream (``make_marker_flv``): a black picture with a white frame and a 1 kHz beep together
every 2 s, over a quiet 300 Hz pilot tone, so audio dropouts, A/V offsets and delays are measurable.
The analysis reads recordings with ffmpeg: per-frame luma (flash times), decoded audio with its
container start time, beep onsets, quiet gaps, dominant frequencies and levels.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 48_000
FPS = 25
SIZE = "320x240"
DURATION_S = 8
FLASH_PERIOD_S = 2.0
BEEP_S = 0.1
SYNC_TOLERANCE_S = 0.040
FFMPEG_TIMEOUT_S = 60


# -- the marker stream -----------------------------------------------------------------------------
def make_marker_flv(path: Path, *, audio_codec: str = "aac", with_audio: bool = True,
                    duration_s: float = DURATION_S) -> Path:
    """H.264 + audio FLV: white frame + beep at t = 0, 2, 4, ... s; black + 300 Hz pilot otherwise."""
    flash = f"lt(mod(t\\,{FLASH_PERIOD_S:g})\\,{1 / FPS:g})"
    video = (f"color=black:s={SIZE}:r={FPS},"
             f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{flash}'")
    beep = f"if(lt(mod(t\\,{FLASH_PERIOD_S:g})\\,{BEEP_S:g})\\,0.5*sin(2*PI*1000*t)\\,0)+0.05*sin(2*PI*300*t)"
    audio = f"aevalsrc='{beep}|{beep}':s={RATE}"
    argv = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", video]
    if with_audio:
        argv += ["-f", "lavfi", "-i", audio]
    argv += ["-t", str(duration_s), "-c:v", "libx264", "-preset", "veryfast", "-g", str(2 * FPS),
             "-pix_fmt", "yuv420p"]
    if with_audio:
        argv += ["-c:a", audio_codec, "-b:a", "128k"]
    argv += ["-f", "flv", str(path)]
    subprocess.run(argv, check=True, timeout=FFMPEG_TIMEOUT_S + duration_s)
    return path


# -- analysis -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    time: float
    luma: float


def parse_luma(text: str) -> list[Frame]:
    frames: list[Frame] = []
    current: float | None = None
    for line in text.splitlines():
        if line.startswith("frame:"):
            current = float(line.split("pts_time:")[1].split()[0])
        elif line.startswith("lavfi.signalstats.YAVG=") and current is not None:
            frames.append(Frame(current, float(line.split("=", 1)[1])))
            current = None
    return frames


def video_frames(path: Path, tmp: Path, *, timeout_s: float = FFMPEG_TIMEOUT_S) -> list[Frame]:
    out = tmp / f"{path.stem}-luma.txt"
    # -copyts: container timestamps as they are (ffmpeg would otherwise shift them by the file's start)
    subprocess.run(["ffmpeg", "-v", "error", "-copyts", "-i", str(path), "-an", "-vf",
                    f"signalstats,metadata=print:key=lavfi.signalstats.YAVG:file={out}", "-f", "null", "-"],
                   check=True, timeout=timeout_s)
    return parse_luma(out.read_text())


def flash_times(frames: list[Frame]) -> list[float]:
    """Times of frames that turn white (rising edges of mean luma)."""
    ordered = sorted(frames, key=lambda f: f.time)
    times, previous_white = [], False
    for frame in ordered:
        white = frame.luma > 128
        if white and not previous_white:
            times.append(frame.time)
        previous_white = white
    return times


def audio_track(path: Path, *, timeout_s: float = FFMPEG_TIMEOUT_S) -> tuple[float, np.ndarray]:
    """(container time of the first audio sample, mono float samples at 48 kHz); gaps filled from timestamps."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                            "stream=start_time", "-of", "csv=p=0", str(path)],
                           check=True, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S)
    start = float(probe.stdout.strip())
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-af", "aresample=async=1",
                          "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"],
                         check=True, capture_output=True, timeout=timeout_s).stdout
    return start, np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def envelope(samples: np.ndarray, window: int = RATE // 1000) -> np.ndarray:
    """Peak amplitude per 1 ms block."""
    usable = len(samples) // window * window
    return np.abs(samples[:usable]).reshape(-1, window).max(axis=1)


def beep_onsets(start: float, samples: np.ndarray) -> list[float]:
    """Times where the 1 kHz beep (0.5 full scale) rises above the pilot tone (0.05)."""
    env = envelope(samples)
    loud = env > 0.25
    onsets, last = [], -10.0
    for index in np.flatnonzero(loud[1:] & ~loud[:-1]) + 1:
        t = start + index / 1000.0
        if t - last > FLASH_PERIOD_S / 2:
            onsets.append(t)
        last = t
    if loud[0]:
        onsets.insert(0, start)
    return onsets


def flash_to_beep_offsets(flashes: list[float], beeps: list[float]) -> list[float]:
    return [offset for _, offset in flash_beep_pairs(flashes, beeps)]


def flash_beep_pairs(flashes: list[float], beeps: list[float]) -> list[tuple[float, float]]:
    """(flash time, beep - flash) for each flash with a beep within a quarter period of it."""
    pairs = []
    for flash in flashes:
        nearest = min(beeps, key=lambda b: abs(b - flash), default=None)
        if nearest is not None and abs(nearest - flash) < FLASH_PERIOD_S / 4:
            pairs.append((flash, nearest - flash))
    return pairs


def longest_quiet_gap_s(samples: np.ndarray) -> float:
    """Longest run of 1 ms blocks without the pilot tone (a dropout)."""
    quiet = envelope(samples) < 0.02
    longest = run = 0
    for is_quiet in quiet:
        run = run + 1 if is_quiet else 0
        longest = max(longest, run)
    return longest / 1000.0


def longest_silence_s(samples: np.ndarray, threshold: float = 0.001) -> float:
    """Longest run of 1 ms blocks whose peak stays below ``threshold`` (-60 dBFS): a hole in the sound."""
    silent = envelope(samples) < threshold
    longest = run = 0
    for is_silent in silent:
        run = run + 1 if is_silent else 0
        longest = max(longest, run)
    return longest / 1000.0


def best_lag_s(search: np.ndarray, reference: np.ndarray) -> float:
    """Where ``reference`` lies in ``search`` (seconds from its start), to the sample, by normalised
    cross-correlation.

    Every sample offset is tried (via FFT): on music a coarser grid can miss the true peak by a fraction of
    a millisecond, and then a neighbouring beat or period of the music scores higher than the true offset.
    Each offset's score is divided by the energy of the stretch of ``search`` it covers: where the music
    fades, a plain correlation favours the offsets that reach into the louder part over the true one."""
    if len(search) < len(reference) or not len(reference):
        raise ValueError(f"search ({len(search)} samples) must be at least as long as reference ({len(reference)})")
    search, reference = search.astype(np.float64), reference.astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(search) + len(reference))))
    spectrum = np.fft.rfft(search, size) * np.conj(np.fft.rfft(reference, size))
    scores = np.fft.irfft(spectrum, size)[:len(search) - len(reference) + 1]
    energy = np.concatenate([[0.0], np.cumsum(search ** 2)])
    covered = energy[len(reference):] - energy[:len(search) - len(reference) + 1]
    return float(np.argmax(scores / np.sqrt(np.maximum(covered, 1e-12)))) / RATE


def dominant_frequency(samples: np.ndarray, start_s: float, end_s: float) -> float:
    """The strongest frequency (Hz) of ``samples`` (48 kHz mono) between two times (seconds into it)."""
    window = samples[max(0, round(start_s * RATE)):round(end_s * RATE)]
    if len(window) < RATE // 50:
        raise ValueError(f"window {start_s:.3f}-{end_s:.3f}s is too short or outside the audio")
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    return float(np.argmax(spectrum) * RATE / len(window))


def band_level(samples: np.ndarray, start_s: float, end_s: float, freq: float, width: float = 15.0) -> float:
    """Share (0..1) of the energy between two times that lies within ``freq`` +- ``width`` Hz."""
    window = samples[max(0, round(start_s * RATE)):round(end_s * RATE)]
    power = np.abs(np.fft.rfft(window * np.hanning(len(window)))) ** 2
    freqs = np.fft.rfftfreq(len(window), 1 / RATE)
    total = float(power.sum())
    return float(power[np.abs(freqs - freq) <= width].sum()) / total if total > 0 else 0.0


def tone_onset(samples: np.ndarray, freq: float, around_s: float, search_s: float = 0.25,
               step_s: float = 0.002, window_s: float = 0.02) -> float | None:
    """Time (seconds into ``samples``) where a tone of ``freq`` starts near ``around_s``: the first
    short window, scanning forward from ``around_s - search_s``, whose energy is mostly that tone."""
    t = around_s - search_s
    while t <= around_s + search_s:
        if t >= 0 and band_level(samples, t, t + window_s, freq, width=60.0) > 0.6:
            return t
        t += step_s
    return None


def rms_db(samples: np.ndarray) -> float:
    """RMS level in dBFS (-inf for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    return 20 * np.log10(rms) if rms > 0 else float("-inf")


def windows_rms_db(samples: np.ndarray, window_s: float = 0.05) -> np.ndarray:
    """RMS level (dBFS) per window."""
    size = round(window_s * RATE)
    usable = len(samples) // size * size
    blocks = samples[:usable].reshape(-1, size).astype(np.float64)
    rms = np.sqrt(np.mean(blocks ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-9))


# -- real speech over music (Milestone E) -----------------------------------------------------------
SPEECH_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
MUSIC_DIR = Path("/usr/share/asterisk/moh")


@dataclass(frozen=True)
class Prompt:
    name: str  # asterisk-core-sounds-en-wav prompt
    english: str  # what Allison says
    spanish: str  # a human reference translation


@dataclass(frozen=True)
class SpeechClip:
    path: Path
    duration_s: float
    speech_spans: tuple[tuple[float, float], ...]  # (start, end) file times of each prompt
    prompts: tuple[Prompt, ...]

    def music_only_spans(self, margin_s: float) -> list[tuple[float, float]]:
        """Stretches without speech (lead-in, gaps, tail), ``margin_s`` away from any speech."""
        edges = [0.0, *[t for span in self.speech_spans for t in span], self.duration_s]
        spans = []
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            lo, hi = start + (margin_s if start > 0 else 0.5), end - margin_s
            if hi - lo >= 0.3:
                spans.append((lo, hi))
        return spans


def make_speech_clip(path: Path, prompts: tuple[Prompt, ...], *, lead_in_s: float = 2.0, gap_s: float = 2.5,
                     music: str = "manolo_camp-morning_coffee.wav", music_gain_db: float = -14.0) -> SpeechClip:
    """Recorded English prompts with music-only gaps, over music at ``music_gain_db``, plus testsrc2
    video (320x240@25) with a white frame every 2 s; H.264 + AAC 48 kHz stereo in FLV."""
    durations = []
    for prompt in prompts:
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                str(SPEECH_DIR / f"{prompt.name}.wav")],
                               check=True, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S)
        durations.append(float(probe.stdout.strip()))
    spans, t = [], lead_in_s
    for seconds in durations:
        spans.append((t, t + seconds))
        t += seconds + gap_s
    total = t
    inputs: list[str] = []
    parts = []
    for index, prompt in enumerate(prompts):
        inputs += ["-i", str(SPEECH_DIR / f"{prompt.name}.wav")]
        parts.append(f"[{index}:a]aresample=48000,apad=pad_dur={gap_s}[s{index}]")
    n = len(prompts)
    flash = f"lt(mod(t\\,{FLASH_PERIOD_S:g})\\,{1 / FPS:g})"
    filters = ";".join(parts) + (
        f";{''.join(f'[s{i}]' for i in range(n))}concat=n={n}:v=0:a=1,adelay={round(lead_in_s * 1000)}:all=1,"
        "aformat=channel_layouts=mono[speech]"
        f";[{n}:a]aresample=48000,volume={music_gain_db}dB,aformat=channel_layouts=mono[music]"
        ";[speech][music]amix=inputs=2:duration=longest:normalize=0,pan=stereo|c0=c0|c1=c0[aout]"
        f";[{n + 1}:v]drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{flash}'[vout]")
    subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-stream_loop", "-1", "-i", str(MUSIC_DIR / music),
                    "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={FPS}",
                    "-filter_complex", filters, "-map", "[vout]", "-map", "[aout]", "-t", f"{total:.3f}",
                    "-c:v", "libx264", "-preset", "veryfast", "-g", str(2 * FPS), "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "128k", "-ar", str(RATE), "-ac", "2", "-f", "flv", str(path)],
                   check=True, timeout=FFMPEG_TIMEOUT_S)
    return SpeechClip(path, total, tuple(spans), prompts)


# Nine prompts (12 sentences), about 59 s with 2.5 s music gaps: the "real speech" of the live-dubbing
# acceptance test and bench/live_dub.py (not the demo clip). English as recorded; Spanish by a human.
NEWSCAST: tuple[Prompt, ...] = (
    Prompt("vm-intro", "Please leave your message after the tone. When done, hang up or press the pound key.",
           "Por favor, deje su mensaje después del tono. Cuando termine, cuelgue o pulse la tecla almohadilla."),
    Prompt("conf-onlyperson", "You are currently the only person in this conference.",
           "En este momento usted es la única persona en esta conferencia."),
    Prompt("queue-periodic-announce", "All of our representatives are currently busy. Please stay on the line "
           "and your call will be answered by the next available representative.",
           "Todos nuestros representantes están ocupados en este momento. Por favor, permanezca en la línea y su "
           "llamada será atendida por el próximo representante disponible."),
    Prompt("queue-thankyou", "Thank you for your patience.", "Gracias por su paciencia."),
    Prompt("ss-noservice", "The number you have dialed is not in service. Please check the number and try again.",
           "El número que ha marcado no está en servicio. Por favor, compruebe el número e inténtelo de nuevo."),
    Prompt("tt-weasels", "Weasels have eaten our phone system.", "Las comadrejas se han comido nuestro sistema "
           "telefónico."),
    Prompt("privacy-unident", "The party you are trying to reach does not accept unidentified calls.",
           "La persona a la que intenta llamar no acepta llamadas no identificadas."),
    Prompt("please-try-call-later", "Please try your call again later.",
           "Por favor, intente llamar de nuevo más tarde."),
    Prompt("agent-loginok", "Agent logged in.", "Agente conectado."),
)
