from __future__ import annotations

import pytest

from livedub.config.stream_query import MAX_QUERY_CHARS, parse_stream_query


@pytest.mark.parametrize(
    ("query", "overrides"),
    [
        ("", {}),
        ("lang=es", {"target_lang": "es"}),
        ("?lang=pt-BR&src=auto&voice=ef_dora&mode=real&fallback=silence",
         {"target_lang": "pt-BR", "source_lang": "auto", "tts_voice": "ef_dora", "sts_mode": "real",
          "fallback": "silence"}),
        ("LANG=fr", {"target_lang": "fr"}),
        ("voice=ef%20dora", {}),
        ("user=bob&pass=s3cret&lang=it", {"target_lang": "it"}),
    ],
)
def test_valid_parameters_become_worker_settings(query: str, overrides: dict[str, str]) -> None:
    assert dict(parse_stream_query(query).overrides) == overrides


@pytest.mark.parametrize(
    ("query", "warning"),
    [
        ("lang=spanish", "invalid lang='spanish'"),
        ("lang=", "invalid lang='': empty value"),
        ("mode=turbo", "invalid mode='turbo'"),
        ("fallback=loud", "invalid fallback='loud'"),
        ("src=e5", "invalid src='e5'"),
        ("voice=a/b", "invalid voice='a/b'"),
        ("lang=es&lang=fr", "given more than once"),
        ("colour=red", "unknown query parameter 'colour'"),
        ("%00%ff=1", "unknown query parameter '(unprintable)'"),
    ],
)
def test_bad_parameters_warn_and_keep_defaults(query: str, warning: str) -> None:
    result = parse_stream_query(query)
    assert any(warning in w for w in result.warnings), result.warnings
    assert result.overrides.get("sts_mode") is None


def test_secrets_in_the_query_never_reach_warnings() -> None:
    result = parse_stream_query("pass=hunter2&jwt=abc.def&apikey=zzz-top-secret")
    assert not any("hunter2" in w or "abc.def" in w or "top-secret" in w for w in result.warnings)


def test_settings_are_checked_on_top_of_the_inherited_environment() -> None:
    assert dict(parse_stream_query("mode=mock", {"WORKER_STS_MODE": "real"}).overrides) == {"sts_mode": "mock"}


def test_overlong_query_is_ignored_with_a_warning() -> None:
    result = parse_stream_query("lang=es&" + "x" * MAX_QUERY_CHARS)
    assert result.overrides == {} and "longer than" in result.warnings[0]


def test_worker_env_and_public_view() -> None:
    result = parse_stream_query("lang=es&mode=mock")
    assert result.worker_env() == {"WORKER_TARGET_LANG": "es", "WORKER_STS_MODE": "mock"}
    assert result.public() == {"lang": "es", "mode": "mock"}
