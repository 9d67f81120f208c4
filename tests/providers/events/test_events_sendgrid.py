"""SendGrid's Signed Event Webhook with real P-256 keys, and its events normalized."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from providers.events import DeliveryEvent, MalformedEvent, SendGridVerifier, SignatureError
from providers.events.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER, sendgrid_events
from tests.support.signing import (
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
    SendGridSigner,
    json_body,
    sendgrid_batch,
    sendgrid_event,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STAMP = int(NOW.timestamp())
X_MESSAGE_ID = "W86EgYT6SQKk0lRflfLRsA"
ALICE = "alice@example.com"


@pytest.fixture(scope="module")
def signer() -> SendGridSigner:
    return SendGridSigner.generate()


@pytest.fixture
def verifier(signer: SendGridSigner) -> SendGridVerifier:
    return SendGridVerifier(signer.public_key_b64, clock=lambda: NOW)


@pytest.fixture
def body() -> bytes:
    return json_body(sendgrid_batch(X_MESSAGE_ID, ALICE, STAMP))


def check(verifier: SendGridVerifier, body: bytes, headers: dict[str, str]) -> None:
    """Verify `body` with the headers a request would carry."""
    verifier.verify(body, headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER))


def test_the_header_names_are_sendgrids() -> None:
    assert (SIGNATURE_HEADER, TIMESTAMP_HEADER) == (
        SENDGRID_SIGNATURE_HEADER,
        SENDGRID_TIMESTAMP_HEADER,
    )


def test_a_signed_body_verifies(
    verifier: SendGridVerifier, signer: SendGridSigner, body: bytes
) -> None:
    check(verifier, body, signer.headers(body, STAMP))


def test_the_key_may_be_given_as_pem(signer: SendGridSigner, body: bytes) -> None:
    verifier = SendGridVerifier(signer.public_key_pem, clock=lambda: NOW)

    check(verifier, body, signer.headers(body, STAMP))


def test_a_tampered_body_fails(
    verifier: SendGridVerifier, signer: SendGridSigner, body: bytes
) -> None:
    headers = signer.headers(body, STAMP)

    with pytest.raises(SignatureError, match="does not match"):
        check(verifier, body.replace(b"Invalid Address", b"Technical"), headers)
    with pytest.raises(SignatureError):
        check(verifier, body + b" ", headers)  # the same JSON, not the same bytes


def test_a_changed_timestamp_fails(
    verifier: SendGridVerifier, signer: SendGridSigner, body: bytes
) -> None:
    headers = signer.headers(body, STAMP)

    with pytest.raises(SignatureError):
        check(verifier, body, {**headers, TIMESTAMP_HEADER: str(STAMP + 1)})


def test_another_key_fails(verifier: SendGridVerifier, body: bytes) -> None:
    with pytest.raises(SignatureError):
        check(verifier, body, SendGridSigner.generate().headers(body, STAMP))


@pytest.mark.parametrize("offset", [601, -601])
def test_a_timestamp_over_ten_minutes_away_fails(
    verifier: SendGridVerifier, signer: SendGridSigner, body: bytes, offset: int
) -> None:
    with pytest.raises(SignatureError, match="away from now"):
        check(verifier, body, signer.headers(body, STAMP + offset))


def test_the_max_age_is_configurable(signer: SendGridSigner, body: bytes) -> None:
    headers = signer.headers(body, STAMP - 3600)

    SendGridVerifier(signer.public_key_b64, max_age_seconds=None, clock=lambda: NOW).verify(
        body, headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER]
    )
    with pytest.raises(SignatureError):
        SendGridVerifier(signer.public_key_b64, max_age_seconds=3599, clock=lambda: NOW).verify(
            body, headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER]
        )


@pytest.mark.parametrize(
    "change",
    [
        {SIGNATURE_HEADER: "not base64!"},
        {SIGNATURE_HEADER: base64.b64encode(b"garbage, not DER").decode()},
        {SIGNATURE_HEADER: ""},
        {TIMESTAMP_HEADER: ""},
        {TIMESTAMP_HEADER: "1714564800.0"},
        {TIMESTAMP_HEADER: "-1714564800"},
        {TIMESTAMP_HEADER: "soon"},
        {TIMESTAMP_HEADER: "١٧١٤٥٦٤٨٠٠"},  # digits, but not ASCII ones
    ],
    ids=repr,
)
def test_garbage_headers_fail(
    verifier: SendGridVerifier, signer: SendGridSigner, body: bytes, change: dict[str, str]
) -> None:
    with pytest.raises(SignatureError):
        check(verifier, body, {**signer.headers(body, STAMP), **change})


@pytest.mark.parametrize("missing", [SIGNATURE_HEADER, TIMESTAMP_HEADER])
def test_a_missing_header_fails(
    verifier: SendGridVerifier, signer: SendGridSigner, body: bytes, missing: str
) -> None:
    headers = signer.headers(body, STAMP)
    del headers[missing]

    with pytest.raises(SignatureError, match="missing"):
        check(verifier, body, headers)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "not base64!",
        base64.b64encode(b"not DER").decode(),
        "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----",
    ],
)
def test_a_bad_key_is_a_configuration_error(key: str) -> None:
    with pytest.raises(ValueError, match="not a public key"):
        SendGridVerifier(key)


@pytest.mark.parametrize(
    "private_key",
    [ec.generate_private_key(ec.SECP384R1()), rsa.generate_private_key(65537, 2048)],
    ids=["P-384", "RSA"],
)
def test_a_key_other_than_p256_is_a_configuration_error(
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
) -> None:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    with pytest.raises(ValueError, match="P-256"):
        SendGridVerifier(base64.b64encode(der).decode())


def test_every_event_type_maps(body: bytes) -> None:
    events = sendgrid_events(body)

    assert [(e.type, e.permanent) for e in events] == [
        ("processed", False),
        ("deferred", False),
        ("delivered", False),
        ("bounced", True),
        ("soft_bounced", False),
        ("dropped", False),
        ("complained", False),
        ("opened", False),
        ("clicked", False),
        ("unsubscribed", False),
        ("unsubscribed", False),
    ]
    at = datetime.fromtimestamp(STAMP, UTC)
    assert all(
        (e.provider, e.provider_message_id, e.recipient, e.at)
        == ("sendgrid", X_MESSAGE_ID, ALICE, at)
        for e in events
    )
    details = [e.detail for e in events]
    assert details[1] == {"smtpResponse": "400 try again", "attempt": "1"}
    assert details[2] == {"smtpResponse": "250 OK"}
    assert details[3] == {
        "bounceType": "bounce",
        "bounceClassification": "Invalid Address",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
        "status": "5.1.1",
    }
    assert details[4]["bounceType"] == "blocked"
    assert details[5] == {"reason": "Bounced Address", "status": "5.0.0"}
    assert details[7] == {"machineOpen": False}
    assert details[8] == {"url": "https://example.com/receipt?id=42"}
    assert details[10] == {"asmGroupId": 42}


def test_the_event_id_is_sendgrids() -> None:
    item = sendgrid_event("delivered", f"{X_MESSAGE_ID}.filter0001.16648.5515E0B88.0", ALICE, STAMP)

    [event] = sendgrid_events(json_body([item]))

    assert event.event_id == item["sg_event_id"]


@pytest.mark.parametrize(
    "sg_message_id",
    [
        f"{X_MESSAGE_ID}.filterdrecv-p3las1-5bf99c48d-5wbv9-18-5E5F1FE8-2F.0",
        f"{X_MESSAGE_ID}.filter0001.16648.5515E0B88.0",
        f"{X_MESSAGE_ID}.0",
        X_MESSAGE_ID,
    ],
)
def test_the_filter_suffix_is_stripped_from_sg_message_id(sg_message_id: str) -> None:
    [event] = sendgrid_events(json_body([sendgrid_event("delivered", sg_message_id, ALICE, STAMP)]))

    assert event.provider_message_id == X_MESSAGE_ID


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"type": "bounce", "bounce_classification": "Invalid Address"}, "bounced"),
        ({"type": "bounce", "bounce_classification": "Mailbox Unavailable"}, "bounced"),
        ({"type": "bounce", "bounce_classification": "Unclassified"}, "bounced"),
        ({"type": "bounce"}, "bounced"),
        ({}, "bounced"),
        ({"type": "bounce", "bounce_classification": "Reputation"}, "soft_bounced"),
        ({"type": "bounce", "bounce_classification": "Content"}, "soft_bounced"),
        ({"type": "bounce", "bounce_classification": "Frequency/Volume"}, "soft_bounced"),
        ({"type": "bounce", "bounce_classification": "Technical"}, "soft_bounced"),
        ({"type": "blocked", "bounce_classification": "Invalid Address"}, "soft_bounced"),
        ({"type": "blocked"}, "soft_bounced"),
    ],
)
def test_bounces_are_hard_unless_blocked_or_blamed_on_the_sender(
    fields: dict[str, Any], kind: str
) -> None:
    [event] = sendgrid_events(
        json_body([sendgrid_event("bounce", X_MESSAGE_ID, ALICE, STAMP, **fields)])
    )

    assert (event.type, event.permanent) == (kind, kind == "bounced")


def test_events_without_sg_message_id_are_skipped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    items = [
        sendgrid_event("spamreport", None, ALICE, STAMP, sg_event_id="ev-1"),
        sendgrid_event("delivered", "", ALICE, STAMP),
        sendgrid_event("delivered", ".filter0001", ALICE, STAMP),
        sendgrid_event("delivered", X_MESSAGE_ID, ALICE, STAMP),
    ]

    with caplog.at_level(logging.WARNING, logger="providers.events.sendgrid"):
        events = sendgrid_events(json_body(items))

    assert [e.type for e in events] == ["delivered"]
    assert len(caplog.records) == 3
    assert "spamreport event ev-1 has no sg_message_id" in caplog.records[0].getMessage()
    assert ALICE not in caplog.text  # no addresses in logs


def test_events_we_do_not_track_are_left_out() -> None:
    items = [
        sendgrid_event("group_resubscribe", X_MESSAGE_ID, ALICE, STAMP, asm_group_id=42),
        sendgrid_event("account_status_change", None, ALICE, STAMP, type="compliance_suspend"),
        sendgrid_event("something_new", X_MESSAGE_ID, ALICE, STAMP),
    ]

    assert sendgrid_events(json_body(items)) == []


def test_an_event_without_email_has_no_recipient() -> None:
    item = sendgrid_event("processed", X_MESSAGE_ID, ALICE, STAMP)
    del item["email"]

    [event] = sendgrid_events(json_body([item]))

    assert event.recipient is None


def test_an_empty_array_has_no_events() -> None:
    assert sendgrid_events(b"[]") == []


def valid() -> dict[str, Any]:
    return sendgrid_event("delivered", X_MESSAGE_ID, ALICE, STAMP)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'{"event": "delivered"}',
        json_body([valid(), "delivered"]),
        json_body([{**valid(), "event": None}]),
        json_body([{**valid(), "timestamp": "1714564800"}]),
        json_body([{**valid(), "timestamp": True}]),
        json_body([{**valid(), "timestamp": 10**20}]),
        json_body([{k: v for k, v in valid().items() if k != "timestamp"}]),
    ],
)
def test_malformed_bodies_raise(body: bytes) -> None:
    with pytest.raises(MalformedEvent) as caught:
        sendgrid_events(body)
    assert caught.value.provider == "sendgrid"


def test_events_are_values(body: bytes) -> None:
    events = sendgrid_events(body)

    assert len(set(events)) == len(events)  # hashable, though detail is a mapping
    assert isinstance(events[0], DeliveryEvent)
    with pytest.raises(TypeError):
        events[3].detail["reason"] = "changed"  # type: ignore[index]
