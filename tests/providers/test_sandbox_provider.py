"""The sandbox provider `test`: the message as SMTP would carry it, handed back, not sent."""

from __future__ import annotations

import email
import email.policy

import pytest

from providers.errors import RejectedError
from providers.mime import message_bytes
from providers.sandbox import SandboxProvider
from tests.providers.provider_testkit import MessageFactory


def test_gives_back_what_smtp_would_carry(make_message: MessageFactory) -> None:
    message = make_message()

    result = SandboxProvider().send(message)

    assert (result.provider, result.message_id) == ("test", "receipt-1@mailroom.test")
    assert result.raw is not None
    parsed = email.message_from_bytes(result.raw, policy=email.policy.default)
    assert parsed["Message-ID"] == "<receipt-1@mailroom.test>"
    assert parsed["Subject"] == "Your receipt"
    assert parsed["Bcc"] is None and b"bob-hidden" not in result.raw
    assert parsed["Date"] is not None
    assert [p.get_content_type() for p in parsed.walk()] == [
        p.get_content_type()
        for p in email.message_from_bytes(
            message_bytes(message), policy=email.policy.default
        ).walk()
    ]


def test_refuses_what_a_real_provider_would(make_message: MessageFactory) -> None:
    with pytest.raises(RejectedError, match="line break"):
        SandboxProvider().send(make_message(subject="a\r\nBcc: x@example.com"))
