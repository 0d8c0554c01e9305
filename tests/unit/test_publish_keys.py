"""ORCH_PUBLISH_KEYS_FILE: the file's format, constant-time checks, reloads when it changes, a bad
edit keeps the keys it had, and no key ever appears in an error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from livedub.config import SettingsError, load_settings
from livedub.config.publish_keys import PublishKeys, PublishKeysError, key_from_query, parse_keys
from livedub.config.settings import OrchestratorSettings

CAM = "cam1-key-0123456789ab"
ANY = "any-stream-key-ffffffff"


def test_format_and_errors_that_name_the_line_but_never_the_key() -> None:
    assert parse_keys(f"# comment\ncam1 {CAM}\n\n* {ANY}  # trailing\ncam1 {ANY}\n") == {
        "cam1": (CAM, ANY), "*": (ANY,)}
    with pytest.raises(PublishKeysError, match=r"k:1: expected '<stream id or \*> <key>'"):
        parse_keys(f"cam1 {CAM} extra\n", "k")
    with pytest.raises(PublishKeysError, match="k:1: '../x' is not a stream id"):
        parse_keys(f"../x {CAM}\n", "k")
    with pytest.raises(PublishKeysError, match="k:2: a key is 16-256 characters") as error:
        parse_keys(f"cam1 {CAM}\ncam2 short\n", "k")
    assert "short" not in str(error.value)


def test_the_key_comes_from_the_query_and_must_match_its_stream_or_star(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"cam1 {CAM}\n* {ANY}\n")
    keys = PublishKeys(path)
    assert key_from_query(f"lang=es&KEY={CAM}") == CAM and key_from_query("lang=es") == ""
    assert keys.allows("cam1", f"key={CAM}") and keys.allows("cam1", f"key={ANY}") and keys.allows("cam9", f"key={ANY}")
    assert not keys.allows("cam2", f"key={CAM}")
    assert not keys.allows("cam1", "") and not keys.allows("cam1", "key=") and not keys.allows("cam1", f"key={CAM}0")


def test_a_changed_file_is_read_again_and_a_broken_one_keeps_the_old_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"cam1 {CAM}\n")
    keys = PublishKeys(path)
    assert keys.allows("cam1", f"key={CAM}")
    path.write_text(f"cam1 {ANY}\n")
    os.utime(path, ns=(1, 10**18))  # a different modification time, whatever the clock's resolution
    assert keys.allows("cam1", f"key={ANY}") and not keys.allows("cam1", f"key={CAM}")
    path.write_text("cam1 short\n")
    os.utime(path, ns=(1, 2 * 10**18))
    assert keys.allows("cam1", f"key={ANY}")  # a bad edit neither opens nor closes a stream


def test_the_setting_checks_the_file_when_it_loads(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ORCH_PUBLISH_KEYS_FILE.*cannot read"):
        load_settings(OrchestratorSettings, env={"ORCH_PUBLISH_KEYS_FILE": str(tmp_path / "missing")})
    bad = tmp_path / "bad"
    bad.write_text("cam1\n")
    with pytest.raises(SettingsError, match="ORCH_PUBLISH_KEYS_FILE.*bad:1"):
        load_settings(OrchestratorSettings, env={"ORCH_PUBLISH_KEYS_FILE": str(bad)})
