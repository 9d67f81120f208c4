from __future__ import annotations

import ast
from pathlib import Path

import pytest

from providers.errors import TransientError
from providers.fake import ScriptedProvider
from providers.outbox import OutboxProvider
from providers.registry import (
    FACTORIES,
    ProviderSettings,
    UnknownProviderError,
    build_providers,
)
from providers.smtp import SmtpProvider
from tests.providers.provider_testkit import MessageFactory

PROVIDERS_DIR = Path(__file__).resolve().parents[2] / "providers"


def test_builds_the_named_providers_in_order(tmp_path: Path) -> None:
    settings = ProviderSettings(
        outbox_dir=tmp_path,
        smtp_host="mx.test",
        smtp_port=2525,
        smtp_username="user",
        smtp_password="pw",
        smtp_starttls=True,
        smtp_timeout=7.5,
    )

    smtp, outbox = build_providers(["smtp", "outbox"], settings)

    assert isinstance(smtp, SmtpProvider) and isinstance(outbox, OutboxProvider)
    assert (smtp.host, smtp.port, smtp.username, smtp.password) == ("mx.test", 2525, "user", "pw")
    assert (smtp.starttls, smtp.use_ssl, smtp.timeout) == (True, False, 7.5)
    assert outbox.directory == tmp_path
    assert [p.name for p in (smtp, outbox)] == ["smtp", "outbox"]


def test_building_does_not_connect() -> None:
    # Nothing listens on port 9 here; building must still succeed (connections are lazy).
    [smtp] = build_providers(["smtp"], ProviderSettings(smtp_host="127.0.0.1", smtp_port=9))

    assert isinstance(smtp, SmtpProvider)


def test_unknown_name_says_which_names_exist() -> None:
    with pytest.raises(UnknownProviderError) as caught:
        build_providers(["outbox", "sendgird"], ProviderSettings())

    assert isinstance(caught.value, ValueError)
    assert caught.value.name == "sendgird"
    assert "'sendgird'" in str(caught.value)
    assert "outbox, sendgrid, ses, smtp" in str(caught.value)


def test_a_name_listed_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        build_providers(["outbox", "outbox"], ProviderSettings())


def test_password_stays_out_of_the_repr() -> None:
    assert "hunter2" not in repr(ProviderSettings(smtp_password="hunter2"))


def test_a_new_provider_needs_only_a_registry_entry(
    monkeypatch: pytest.MonkeyPatch, make_message: MessageFactory
) -> None:
    monkeypatch.setitem(
        FACTORIES, "scripted", lambda settings: ScriptedProvider("scripted", [None])
    )

    [provider] = build_providers(["scripted"], ProviderSettings())

    assert provider.send(make_message()).provider == "scripted"


def test_scripted_provider_plays_its_script_then_complains(make_message: MessageFactory) -> None:
    error = TransientError("down", provider="fake")
    script: list[Exception | None] = [error, None]
    fake = ScriptedProvider("fake", script)

    with pytest.raises(TransientError) as caught:
        fake.send(make_message(subject="one"))
    result = fake.send(make_message(subject="two"))
    with pytest.raises(AssertionError, match="no outcome left"):
        fake.send(make_message(subject="three"))
    fake.close()

    assert caught.value is error
    assert result.provider == "fake" and result.message_id == "fake-2"
    assert [m.subject for m in fake.messages] == ["one", "two", "three"]
    assert script == [error, None]  # the caller's list is left alone
    assert fake.closed


def test_providers_import_nothing_else_of_ours() -> None:
    # The layer must stay liftable: see "Who may import whom" in the style guide.
    forbidden = {"api", "tasks", "models", "mailroom", "render", "storage", "celeryconfig"}
    offenders = []
    for path in sorted(PROVIDERS_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            offenders += [f"{path.name}: {root}" for root in roots & forbidden]

    assert len(list(PROVIDERS_DIR.glob("*.py"))) >= 8
    assert offenders == []
