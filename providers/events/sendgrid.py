"""SendGrid's signed Event Webhook: check the signature, then normalize the JSON array of events.

A webhook handles one POST like this:

    verifier.verify(body, headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER))
    events = sendgrid_events(body)         # SignatureError: 403, MalformedEvent: 400

`body` must be the raw bytes as received: the signature covers them, not a re-serialized JSON.

Message ids: each event's `sg_message_id` is the `X-Message-Id` that Mail Send answered with (our
`SendResult.message_id`), followed by "." and a per-recipient suffix of SendGrid's filter
servers. Everything from the first "." is cut so the two match. An event without
`sg_message_id` cannot be tied to any email we sent: it is skipped, with a warning in the log.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from providers.events.model import (
    Clock,
    DeliveryEvent,
    EventType,
    MalformedEvent,
    SignatureError,
    compact,
    utc_now,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
DEFAULT_MAX_AGE_SECONDS = 600.0

_TYPES: Mapping[str, EventType] = {
    "processed": "processed",
    "delivered": "delivered",
    "deferred": "deferred",
    "bounce": "bounced",
    "dropped": "dropped",
    "spamreport": "complained",
    "open": "opened",
    "click": "clicked",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}
# SendGrid's bounce classifications that blame the sender (content, reputation, volume) or a
# passing fault, not the address: suppressing the recipient for them would lose a good address.
SOFT_CLASSIFICATIONS = frozenset({"Technical", "Content", "Reputation", "Frequency/Volume"})
_UNIX_TIME = re.compile(r"[0-9]{1,12}")


def load_public_key(public_key: str) -> ec.EllipticCurvePublicKey:
    """The P-256 key SendGrid shows (base64 DER, or PEM); ValueError when it is not one."""
    text = public_key.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, UnsupportedAlgorithm) as err:  # binascii.Error is a ValueError
        raise ValueError("the SendGrid verification key is not a public key") from err
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("the SendGrid verification key is not an ECDSA P-256 key")
    return key


class SendGridVerifier:
    """Check the Signed Event Webhook's ECDSA signature and the freshness of its timestamp."""

    def __init__(
        self,
        public_key: str,
        max_age_seconds: float | None = DEFAULT_MAX_AGE_SECONDS,
        clock: Clock = utc_now,
    ) -> None:
        # A bad key is a configuration error, raised here as ValueError and never as a
        # SignatureError, so that it cannot pass for one forged request.
        self._key = load_public_key(public_key)
        self.max_age_seconds = max_age_seconds
        self._clock = clock

    def verify(self, body: bytes, signature_b64: str | None, timestamp: str | None) -> None:
        """Return if SendGrid signed `timestamp + body`; raise SignatureError if not."""
        if not signature_b64 or not timestamp:
            raise _error("the signature or timestamp header is missing")
        if not _UNIX_TIME.fullmatch(timestamp):
            raise _error(f"the timestamp {timestamp!r} is not a unix time")
        if self.max_age_seconds is not None:
            age = abs(self._clock().timestamp() - int(timestamp))
            if age > self.max_age_seconds:
                raise _error(f"the timestamp {timestamp} is {age:.0f}s away from now")
        try:
            signature = base64.b64decode(signature_b64, validate=True)
        except binascii.Error as err:
            raise _error("the signature is not base64") from err
        try:
            self._key.verify(signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as err:
            raise _error("the signature does not match the body") from err


def sendgrid_events(body: bytes) -> list[DeliveryEvent]:
    """The delivery events in an Event Webhook body; events we do not track are left out."""
    try:
        payload = json.loads(body)
    except ValueError as err:
        raise MalformedEvent("the SendGrid body is not JSON", provider="sendgrid") from err
    if not isinstance(payload, list):
        raise MalformedEvent("the SendGrid body is not a JSON array", provider="sendgrid")
    events = []
    for item in payload:
        if not isinstance(item, dict):
            raise MalformedEvent("a SendGrid event is not a JSON object", provider="sendgrid")
        event = _event(item)
        if event is not None:
            events.append(event)
    return events


def provider_message_id(sg_message_id: str) -> str:
    """The X-Message-Id part of an `sg_message_id` (everything before the first ".")."""
    return sg_message_id.partition(".")[0]


def _event(item: Mapping[str, Any]) -> DeliveryEvent | None:
    name = item.get("event")
    if not isinstance(name, str):
        raise MalformedEvent("a SendGrid event has no event name", provider="sendgrid")
    kind = _TYPES.get(name)
    if kind is None:  # group_resubscribe, account events, anything newer than this module
        return None
    sg_message_id = item.get("sg_message_id")
    message_id = provider_message_id(sg_message_id) if isinstance(sg_message_id, str) else ""
    event_id = item.get("sg_event_id")
    if not message_id:
        log.warning("SendGrid %s event %s has no sg_message_id; skipped", name, event_id)
        return None
    permanent = False
    if name == "bounce":
        permanent = _hard_bounce(item)
        kind = "bounced" if permanent else "soft_bounced"
    recipient = item.get("email")
    return DeliveryEvent(
        provider="sendgrid",
        type=kind,
        provider_message_id=message_id,
        recipient=recipient if isinstance(recipient, str) and recipient else None,
        at=_time(item.get("timestamp")),
        permanent=permanent,
        detail=_detail(name, item),
        event_id=event_id if isinstance(event_id, str) and event_id else None,
    )


def _hard_bounce(item: Mapping[str, Any]) -> bool:
    # "blocked" is SendGrid's word for a refusal it will not treat as a bounce (it does not
    # suppress the address itself); "bounce" is one it does, unless the reason is on our side.
    if item.get("type") == "blocked":
        return False
    return item.get("bounce_classification") not in SOFT_CLASSIFICATIONS


def _detail(name: str, item: Mapping[str, Any]) -> dict[str, Any]:
    return compact(
        bounceType=item.get("type") if name == "bounce" else None,
        bounceClassification=item.get("bounce_classification"),
        reason=item.get("reason"),
        status=item.get("status"),
        smtpResponse=item.get("response"),
        attempt=item.get("attempt"),
        url=item.get("url"),
        asmGroupId=item.get("asm_group_id"),
        machineOpen=item.get("sg_machine_open"),
    )


def _time(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedEvent("a SendGrid event has no unix timestamp", provider="sendgrid")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as err:
        raise MalformedEvent(f"the timestamp {value} is out of range", provider="sendgrid") from err


def _error(message: str) -> SignatureError:
    return SignatureError(message, provider="sendgrid")
