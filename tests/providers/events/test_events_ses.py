"""SNS bodies parsed, and the SES notifications they carry turned into delivery events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from providers.events import DeliveryEvent, MalformedEvent, parse_sns, ses_events
from tests.support.signing import (
    TOPIC_ARN,
    iso,
    json_body,
    ses_bounce,
    ses_complaint,
    ses_delivery,
    ses_mail,
    sns_notification,
    sns_subscription_confirmation,
)

AT = datetime(2024, 5, 1, 12, 0, 5, 123000, tzinfo=UTC)
SES_ID = "0102018f3a2b4c5d-6e7f8a9b-aaaa-bbbb-cccc-1234567890ab-000000"
ALICE, BOB = "alice@example.com", "bob@example.org"


def events_of(inner: dict[str, Any] | str, sns_id: str = "sns-1") -> list[DeliveryEvent]:
    """The events of `inner` sent through an SNS notification body."""
    return ses_events(parse_sns(json_body(sns_notification(inner, message_id=sns_id))))


def test_a_notification_body_is_parsed() -> None:
    fields = sns_notification({"x": 1}, at=AT, subject="Amazon SES", message_id="sns-9")

    message = parse_sns(json_body(fields))

    assert message.type == "Notification"
    assert message.message_id == "sns-9"
    assert message.topic_arn == TOPIC_ARN
    assert message.timestamp == AT
    assert message.subject == "Amazon SES"
    assert json.loads(message.message) == {"x": 1}
    assert message.subscribe_url is None
    assert message.fields == fields


def test_a_subscription_confirmation_is_parsed_and_has_no_events() -> None:
    fields = sns_subscription_confirmation(at=AT)

    message = parse_sns(json_body(fields))

    assert message.type == "SubscriptionConfirmation"
    assert message.subscribe_url == fields["SubscribeURL"]
    assert ses_events(message) == []


def test_a_delivery_gives_one_event_per_recipient() -> None:
    events = events_of(ses_delivery(SES_ID, [ALICE, BOB], AT))

    assert events == [
        DeliveryEvent(
            provider="ses",
            type="delivered",
            provider_message_id=SES_ID,
            recipient=address,
            at=AT,
            detail={"smtpResponse": "250 2.6.0 Message received"},
            event_id=f"sns-1:{address}",
        )
        for address in (ALICE, BOB)
    ]


def test_a_permanent_bounce_is_bounced_and_permanent() -> None:
    [alice, bob] = events_of(ses_bounce(SES_ID, [ALICE, BOB], AT, permanent=True))

    assert (alice.type, alice.permanent, alice.recipient, bob.recipient) == (
        "bounced",
        True,
        ALICE,
        BOB,
    )
    assert alice.provider_message_id == SES_ID
    assert alice.at == AT
    assert alice.detail == {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
        "status": "5.1.1",
        "feedbackId": "0102018f3a-bounce-feedback-000000",
    }
    assert alice.suppresses and alice.is_final


def test_a_transient_bounce_is_soft_and_not_permanent() -> None:
    [event] = events_of(ses_bounce(SES_ID, [ALICE], AT, permanent=False))

    assert (event.type, event.permanent, event.recipient) == ("soft_bounced", False, ALICE)
    assert event.detail["bounceSubType"] == "MailboxFull"
    assert event.detail["diagnosticCode"] == "smtp; 452 4.2.2 full"
    assert not event.suppresses and not event.is_final


def test_an_undetermined_bounce_is_soft() -> None:
    inner = ses_bounce(SES_ID, [ALICE], AT)
    inner["bounce"]["bounceType"] = "Undetermined"
    inner["bounce"]["bounceSubType"] = "Undetermined"

    [event] = events_of(inner)

    assert (event.type, event.permanent) == ("soft_bounced", False)


def test_only_the_bounced_recipients_get_bounce_events() -> None:
    inner = ses_bounce(SES_ID, [BOB], AT)
    inner["mail"]["destination"] = [ALICE, BOB]

    assert [event.recipient for event in events_of(inner)] == [BOB]


def test_a_complaint_gives_one_event_per_complaining_recipient() -> None:
    [event] = events_of(ses_complaint(SES_ID, [ALICE], AT))

    assert (event.type, event.recipient, event.permanent, event.at) == (
        "complained",
        ALICE,
        False,
        AT,
    )
    assert event.detail == {
        "feedbackType": "abuse",
        "feedbackId": "0102018f3a-complaint-feedback-000000",
    }
    assert event.suppresses


def test_event_publishing_uses_event_type_and_maps_the_other_events() -> None:
    mail = ses_mail(SES_ID, [ALICE], AT - timedelta(seconds=9))
    later = iso(AT)

    def published(event_type: str, **section: Any) -> DeliveryEvent:
        [event] = events_of({"eventType": event_type, "mail": mail, **section})
        return event

    send = published("Send", send={})
    assert (send.type, send.recipient, send.at) == ("processed", ALICE, AT - timedelta(seconds=9))
    reject = published("Reject", reject={"reason": "Bad content"})
    assert (reject.type, reject.detail) == ("rejected", {"reason": "Bad content"})
    delay = published(
        "DeliveryDelay",
        deliveryDelay={
            "timestamp": later,
            "delayType": "MailboxFull",
            "expirationTime": iso(AT + timedelta(hours=12)),
            "delayedRecipients": [
                {"emailAddress": ALICE, "status": "4.2.2", "diagnosticCode": "smtp; 452 full"}
            ],
        },
    )
    assert (delay.type, delay.at, delay.detail) == (
        "deferred",
        AT,
        {"delayType": "MailboxFull", "diagnosticCode": "smtp; 452 full", "status": "4.2.2"},
    )
    opened = published("Open", open={"timestamp": later, "ipAddress": "192.0.2.1"})
    assert (opened.type, opened.recipient, opened.detail) == ("opened", ALICE, {})
    clicked = published("Click", click={"timestamp": later, "link": "https://example.com/a"})
    assert (clicked.type, clicked.detail) == ("clicked", {"url": "https://example.com/a"})
    bounce = ses_bounce(SES_ID, [ALICE], AT)
    del bounce["notificationType"]
    assert published("Bounce", bounce=bounce["bounce"]).type == "bounced"


def test_an_open_of_a_message_to_several_recipients_names_nobody() -> None:
    mail = ses_mail(SES_ID, [ALICE, BOB], AT)

    [event] = events_of({"eventType": "Open", "mail": mail, "open": {"timestamp": iso(AT)}})

    assert event.recipient is None
    assert event.event_id == "sns-1"


def test_event_ids_are_stable_across_redeliveries_of_one_notification() -> None:
    inner = ses_delivery(SES_ID, [ALICE], AT)

    assert events_of(inner, sns_id="same") == events_of(inner, sns_id="same")
    assert events_of(inner, sns_id="a")[0].event_id != events_of(inner, sns_id="b")[0].event_id


@pytest.mark.parametrize(
    "inner",
    [
        {"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"},
        {"eventType": "Rendering Failure", "mail": {}, "failure": {}},
        {"eventType": "Subscription", "mail": {}},
        {"notificationType": "SomethingNew"},
        {"unrelated": True},
    ],
)
def test_notifications_we_do_not_track_give_no_events(inner: dict[str, Any]) -> None:
    assert events_of(inner) == []


@pytest.mark.parametrize(
    "inner",
    [
        "not json",
        "[1, 2]",
        {"notificationType": "Bounce", "mail": {"messageId": SES_ID}},
        {"notificationType": "Delivery", "delivery": {"recipients": [ALICE]}},
        {"notificationType": "Delivery", "mail": {}, "delivery": {"recipients": [ALICE]}},
        {
            "notificationType": "Delivery",
            "mail": {"messageId": SES_ID},
            "delivery": {"timestamp": iso(AT), "recipients": "alice@example.com"},
        },
        {
            "notificationType": "Delivery",
            "mail": {"messageId": SES_ID, "timestamp": "soon"},
            "delivery": {"recipients": [ALICE]},
        },
        {
            "notificationType": "Bounce",
            "mail": {"messageId": SES_ID},
            "bounce": {"timestamp": iso(AT), "bouncedRecipients": [{"status": "5.1.1"}]},
        },
    ],
)
def test_malformed_ses_notifications_raise(inner: dict[str, Any] | str) -> None:
    with pytest.raises(MalformedEvent) as caught:
        events_of(inner)
    assert caught.value.provider == "ses"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b"\xff\xfe",
        json_body({"Type": "Notification"}),
        json_body({**sns_notification("x"), "Type": "Mystery"}),
        json_body({**sns_notification("x"), "Timestamp": "noon"}),
        json_body({**sns_notification("x"), "Message": None}),
        json_body({k: v for k, v in sns_subscription_confirmation().items() if k != "Token"}),
        json_body(
            {k: v for k, v in sns_subscription_confirmation().items() if k != "SubscribeURL"}
        ),
    ],
)
def test_malformed_sns_bodies_raise(body: bytes) -> None:
    with pytest.raises(MalformedEvent):
        parse_sns(body)
