"""Unsubscribe links: their settings, and tokens that only this secret makes and reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailroom import config_example, unsubscribe
from mailroom.config import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in config_example.names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAILROOM_VAR_DIR", str(tmp_path / "var"))


def test_a_public_url_without_a_secret_is_refused_beyond_the_embedded_setup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILROOM_PUBLIC_URL", "https://mail.example.com/")
    monkeypatch.setenv("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "MAILROOM_UNSUBSCRIBE_SECRET: required when MAILROOM_PUBLIC_URL is set" in str(
        raised.value
    )
    monkeypatch.setenv("MAILROOM_UNSUBSCRIBE_SECRET", "s3cret")
    assert load_settings().unsubscribe.public_url == "https://mail.example.com"


@pytest.mark.parametrize(
    ("name", "value"),
    [("MAILROOM_PUBLIC_URL", "mail.example.com"), ("MAILROOM_UNSUBSCRIBE_MAILTO", "a <b@c>")],
)
def test_bad_values_are_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_the_embedded_setup_generates_and_keeps_a_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MAILROOM_PUBLIC_URL", "http://127.0.0.1:8000")
    settings = load_settings()
    token = unsubscribe.make_token(settings, "Ann@Example.com", "sender:news@example.com")
    secret_file = tmp_path / "var" / unsubscribe.SECRET_FILE
    assert secret_file.stat().st_mode & 0o777 == 0o600
    found = unsubscribe.read_token(load_settings(), token)
    assert found == unsubscribe.Unsubscribe("ann@example.com", "sender:news@example.com")
    assert found.list_id is None


def test_a_token_read_with_another_secret_or_changed_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILROOM_UNSUBSCRIBE_SECRET", "one")
    token = unsubscribe.make_token(load_settings(), "ann@example.com", "list:abc")
    assert unsubscribe.read_token(load_settings(), token).list_id == "abc"
    monkeypatch.setenv("MAILROOM_UNSUBSCRIBE_SECRET", "two")
    with pytest.raises(unsubscribe.BadToken):
        unsubscribe.read_token(load_settings(), token)
    monkeypatch.setenv("MAILROOM_UNSUBSCRIBE_SECRET", "one")
    with pytest.raises(unsubscribe.BadToken):
        unsubscribe.read_token(load_settings(), "x" + token)


def test_headers_only_with_a_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILROOM_UNSUBSCRIBE_SECRET", "one")
    assert unsubscribe.headers(load_settings(), "ann@example.com", "list:abc") == {}
    monkeypatch.setenv("MAILROOM_PUBLIC_URL", "https://mail.example.com")
    found = unsubscribe.headers(load_settings(), "ann@example.com", "list:abc")
    assert found["List-Unsubscribe"].startswith("<https://mail.example.com/u/")
    assert found["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
