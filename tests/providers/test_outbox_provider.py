from __future__ import annotations

import email
import email.policy
import errno
import json
import tempfile
from pathlib import Path

import pytest

from providers.errors import ConfigurationError, ProviderError, RejectedError, TransientError
from providers.outbox import OutboxProvider, safe_stem
from tests.providers.provider_testkit import MessageFactory


def test_writes_the_eml_and_its_envelope(tmp_path: Path, make_message: MessageFactory) -> None:
    outbox = OutboxProvider(tmp_path / "outbox")  # created on first send

    result = outbox.send(make_message())

    assert result.provider == "outbox"
    assert result.message_id == "receipt-1@mailroom.test"
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == [
        "receipt-1@mailroom.test.eml",
        "receipt-1@mailroom.test.json",
    ]
    raw = (tmp_path / "outbox" / "receipt-1@mailroom.test.eml").read_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Message-ID"] == "<receipt-1@mailroom.test>"
    assert msg["Subject"] == "Your receipt"
    assert msg["Bcc"] is None
    assert b"bob-hidden" not in raw
    envelope = json.loads((tmp_path / "outbox" / "receipt-1@mailroom.test.json").read_text())
    assert envelope == {
        "message_id": "<receipt-1@mailroom.test>",
        "mail_from": "Mailroom <sender@example.com>",
        "rcpt_to": ["alice@example.com", "carol@example.com", "bob-hidden@example.com"],
        "tags": ["tag-receipts"],
    }


def test_sending_the_same_message_id_again_replaces_the_files(
    tmp_path: Path, make_message: MessageFactory
) -> None:
    outbox = OutboxProvider(tmp_path)

    outbox.send(make_message(subject="first"))
    outbox.send(make_message(subject="second", bcc=()))

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "receipt-1@mailroom.test.eml",
        "receipt-1@mailroom.test.json",
    ]  # and no temporary files left behind
    raw = (tmp_path / "receipt-1@mailroom.test.eml").read_bytes()
    assert b"Subject: second" in raw
    envelope = json.loads((tmp_path / "receipt-1@mailroom.test.json").read_text())
    assert envelope["rcpt_to"] == ["alice@example.com", "carol@example.com"]


def test_different_message_ids_get_different_files(
    tmp_path: Path, make_message: MessageFactory
) -> None:
    outbox = OutboxProvider(tmp_path)

    first = outbox.send(make_message(message_id="<a/b@x>"))
    second = outbox.send(make_message(message_id="<a_b@x>"))

    assert first.message_id != second.message_id
    assert len(list(tmp_path.glob("*.eml"))) == 2


@pytest.mark.parametrize(
    "message_id", ["<../../etc/passwd@x>", "<..@x>", "<a\\b@x>", "<" + "x" * 400 + "@y>"]
)
def test_file_names_stay_inside_the_folder(message_id: str) -> None:
    stem = safe_stem(message_id)

    assert "/" not in stem and "\\" not in stem
    assert not stem.startswith(".")
    assert len(stem) <= 200


def test_invalid_message_is_rejected_not_written(
    tmp_path: Path, make_message: MessageFactory
) -> None:
    with pytest.raises(RejectedError, match="line break"):
        OutboxProvider(tmp_path).send(make_message(subject="a\r\nBcc: x@example.com"))

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), ConfigurationError),
        (OSError(errno.ENOSPC, "No space left on device"), TransientError),
    ],
)
def test_write_failures_are_classified(
    tmp_path: Path,
    make_message: MessageFactory,
    monkeypatch: pytest.MonkeyPatch,
    failure: OSError,
    expected: type[ProviderError],
) -> None:
    # Faked, because the tests may run as root, who can write into read-only folders.
    def fail(*args: object, **kwargs: object) -> None:
        raise failure

    monkeypatch.setattr(tempfile, "mkstemp", fail)

    with pytest.raises(expected) as caught:
        OutboxProvider(tmp_path).send(make_message())

    assert type(caught.value) is expected
    assert caught.value.provider == "outbox"
    assert caught.value.__cause__ is failure


def test_a_file_where_the_folder_should_be_is_a_configuration_error(
    tmp_path: Path, make_message: MessageFactory
) -> None:
    (tmp_path / "outbox").write_text("not a folder")

    with pytest.raises(ConfigurationError):
        OutboxProvider(tmp_path / "outbox").send(make_message())
