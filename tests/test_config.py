"""Settings from defaults, a TOML file and TRACKER_* variables; generated secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tracker.config import ConfigError, load, with_generated_secrets


def test_defaults_need_no_configuration(tmp_path: Path) -> None:
    settings = load(env={})
    assert settings.port == 8080
    assert settings.base_url == "http://localhost:8080"
    assert settings.sqlite_path == Path("tracker-data/tracker.db")
    assert settings.synchronous == "NORMAL"


def test_environment_overrides_file(tmp_path: Path) -> None:
    toml = tmp_path / "tracker.toml"
    toml.write_text(
        'base_url = "https://t.example.com/"\nport = 9000\n'
        f'secret_keys = ["{"a" * 32}", "{"b" * 32}"]\ntrusted_proxies = ["10.0.0.0/8"]\n'
    )
    api = {"TRACKER_API_KEYS": f"{'x' * 32}, {'y' * 32}"}
    settings = load(toml, env={"TRACKER_PORT": "9100", **api})
    assert settings.base_url == "https://t.example.com"
    assert settings.port == 9100
    assert settings.secret_keys == ("a" * 32, "b" * 32)
    assert settings.api_keys == ("x" * 32, "y" * 32)
    assert str(settings.trusted_proxies[0]) == "10.0.0.0/8"


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"TRACKER_PORT": "eighty"}, "port"),
        ({"TRACKER_TRUSTED_PROXIES": "not-a-cidr"}, "trusted_proxies"),
        ({"TRACKER_SYNCHRONOUS": "OFF"}, "synchronous"),
    ],
)
def test_bad_values_name_their_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load(env=env)


def test_a_bad_webhook_url_is_refused_without_quoting_its_credentials() -> None:
    urls = "https://ok.example/hook,ftp://hookuser:pass-in-url@hooks.example/in?token=q"
    with pytest.raises(ConfigError) as refused:
        load(env={"TRACKER_WEBHOOK_URLS": urls})
    assert str(refused.value) == "webhook_urls: URL 2 is not an http(s) URL"


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    toml = tmp_path / "tracker.toml"
    toml.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load(toml, env={})


def test_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = load(env={"TRACKER_DATA_DIR": str(tmp_path / "data")})
    first = with_generated_secrets(settings)
    second = with_generated_secrets(settings)
    assert first.secret_keys == second.secret_keys and len(first.secret_keys) == 1
    assert first.api_keys == second.api_keys and len(first.api_keys[0]) >= 40
    for name in ("secret_keys", "api_key"):
        mode = stat.S_IMODE((tmp_path / "data" / name).stat().st_mode)
        assert mode == 0o600, name


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"TRACKER_SECRET_KEYS": "x"}, "secret_keys"),
        ({"TRACKER_API_KEYS": "abc"}, "api_keys"),
        ({"TRACKER_FORGET_KEY": "f" * 31}, "forget_key"),
        ({"TRACKER_WEBHOOK_SECRET": "s"}, "webhook_secret"),
    ],
)
def test_keys_shorter_than_32_characters_are_refused(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key}: .*32 characters"):
        load(env=env)
    assert load(env={k: "k" * 32 for k in env}) is not None
