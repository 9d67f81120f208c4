"""The SES events an SNS notification carries: bounces, complaints, deliveries and the rest,
as `DeliveryEvent`s (see providers.events.sns for the envelope and its signature)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from providers.events.model import DeliveryEvent, EventType, MalformedEvent, compact
from providers.events.sns import SnsMessage, parse_time


def ses_events(message: SnsMessage) -> list[DeliveryEvent]:
    """The delivery events in an SES notification; [] for confirmations and untracked types."""
    if message.type != "Notification":
        return []
    try:
        payload = json.loads(message.message)
    except ValueError as err:
        raise MalformedEvent("the SNS Message is not JSON", provider="ses") from err
    if not isinstance(payload, dict):
        raise MalformedEvent("the SNS Message is not a JSON object", provider="ses")
    # Configuration-set event publishing says eventType, identity notifications notificationType.
    kind = payload.get("eventType") or payload.get("notificationType")
    build = _BUILDERS.get(kind) if isinstance(kind, str) else None
    if build is None:
        return []
    mail = _section(payload, "mail")
    notification = _Notification(
        payload=payload, mail=mail, message_id=_text(mail, "messageId"), sns_id=message.message_id
    )
    return build(notification)


@dataclass(frozen=True)
class _Notification:
    """One SES notification being turned into events."""

    payload: Mapping[str, Any]
    mail: Mapping[str, Any]
    message_id: str
    sns_id: str

    def event(
        self,
        type: EventType,
        recipient: str | None,
        at: datetime,
        detail: Mapping[str, Any],
        permanent: bool = False,
    ) -> DeliveryEvent:
        """An event of this notification; its id is stable across SNS's redeliveries."""
        event_id = self.sns_id if recipient is None else f"{self.sns_id}:{recipient}"
        return DeliveryEvent(
            provider="ses",
            type=type,
            provider_message_id=self.message_id,
            recipient=recipient,
            at=at,
            permanent=permanent,
            detail=detail,
            event_id=event_id,
        )

    def section(self, key: str) -> Mapping[str, Any]:
        """The object named after the event (`bounce`, `delivery`...)."""
        return _section(self.payload, key)

    def time(self, section: Mapping[str, Any] | None = None) -> datetime:
        """The section's own timestamp, else the time SES accepted the mail."""
        for source in (section or {}, self.mail):
            value = source.get("timestamp")
            parsed = parse_time(value) if isinstance(value, str) else None
            if parsed is not None:
                return parsed
        raise MalformedEvent("the SES notification has no valid timestamp", provider="ses")

    def destination(self) -> list[str]:
        """Every envelope recipient of the mail."""
        return _strings(self.mail, "destination")

    def only_recipient(self) -> str | None:
        """The recipient when there is one; opens and clicks do not say which one acted."""
        destination = self.destination()
        return destination[0] if len(destination) == 1 else None


def _bounce(n: _Notification) -> list[DeliveryEvent]:
    bounce = n.section("bounce")
    # Undetermined bounces are treated as soft: suppressing on a guess would lose good addresses.
    permanent = bounce.get("bounceType") == "Permanent"
    at = n.time(bounce)
    events = []
    for recipient in _objects(bounce, "bouncedRecipients"):
        detail = compact(
            bounceType=bounce.get("bounceType"),
            bounceSubType=bounce.get("bounceSubType"),
            diagnosticCode=recipient.get("diagnosticCode"),
            status=recipient.get("status"),
            feedbackId=bounce.get("feedbackId"),
        )
        address = _text(recipient, "emailAddress")
        kind: EventType = "bounced" if permanent else "soft_bounced"
        events.append(n.event(kind, address, at, detail, permanent=permanent))
    return events


def _complaint(n: _Notification) -> list[DeliveryEvent]:
    complaint = n.section("complaint")
    at = n.time(complaint)
    detail = compact(
        feedbackType=complaint.get("complaintFeedbackType"), feedbackId=complaint.get("feedbackId")
    )
    return [
        n.event("complained", _text(recipient, "emailAddress"), at, detail)
        for recipient in _objects(complaint, "complainedRecipients")
    ]


def _delivery(n: _Notification) -> list[DeliveryEvent]:
    delivery = n.section("delivery")
    at = n.time(delivery)
    detail = compact(smtpResponse=delivery.get("smtpResponse"))
    return [
        n.event("delivered", address, at, detail) for address in _strings(delivery, "recipients")
    ]


def _delay(n: _Notification) -> list[DeliveryEvent]:
    delay = n.section("deliveryDelay")
    at = n.time(delay)
    events = []
    for recipient in _objects(delay, "delayedRecipients"):
        detail = compact(
            delayType=delay.get("delayType"),
            diagnosticCode=recipient.get("diagnosticCode"),
            status=recipient.get("status"),
        )
        events.append(n.event("deferred", _text(recipient, "emailAddress"), at, detail))
    return events


def _send(n: _Notification) -> list[DeliveryEvent]:
    at = n.time()
    return [n.event("processed", address, at, {}) for address in n.destination()]


def _reject(n: _Notification) -> list[DeliveryEvent]:
    detail = compact(reason=n.section("reject").get("reason"))
    at = n.time()
    return [n.event("rejected", address, at, detail) for address in n.destination()]


def _open(n: _Notification) -> list[DeliveryEvent]:
    return [n.event("opened", n.only_recipient(), n.time(n.section("open")), {})]


def _click(n: _Notification) -> list[DeliveryEvent]:
    click = n.section("click")
    detail = compact(url=click.get("link"))
    return [n.event("clicked", n.only_recipient(), n.time(click), detail)]


_BUILDERS: Mapping[str, Callable[[_Notification], list[DeliveryEvent]]] = {
    "Bounce": _bounce,
    "Complaint": _complaint,
    "Delivery": _delivery,
    "DeliveryDelay": _delay,
    "Send": _send,
    "Reject": _reject,
    "Open": _open,
    "Click": _click,
}


def _section(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise MalformedEvent(f"the SES notification has no {key} object", provider="ses")
    return value


def _text(parent: Mapping[str, Any], key: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"the SES field {key} is missing or not a string", provider="ses")
    return value


def _objects(parent: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = parent.get(key)
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MalformedEvent(f"the SES field {key} is not a list of objects", provider="ses")
    return value


def _strings(parent: Mapping[str, Any], key: str) -> list[str]:
    value = parent.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MalformedEvent(f"the SES field {key} is not a list of strings", provider="ses")
    return value
