"""What a provider tells us after sending, normalized: one `DeliveryEvent` per recipient and fact.

Event types, and what each means for one recipient of one message:

| type          | final? | meaning                                                         |
|---------------|--------|-----------------------------------------------------------------|
| delivered     | final  | the receiving server accepted the message                       |
| bounced       | final  | hard bounce: the address does not work; `permanent` is True     |
| complained    | final  | the recipient marked it as spam                                 |
| rejected      | final  | the provider refused to send it at all (SES: virus, policy)     |
| dropped       | final  | the provider did not try (SendGrid: address on its own lists)   |
| soft_bounced  | info   | a temporary refusal (mailbox full, blocked); may still arrive   |
| deferred      | info   | the provider keeps retrying                                     |
| processed     | info   | the provider took the message in (SES Send, SendGrid processed) |
| opened        | info   | an open pixel was loaded                                        |
| clicked       | info   | a tracked link was followed; `detail["url"]`                    |
| unsubscribed  | info   | the recipient used the provider's unsubscribe link              |

"Final" settles the outcome for the recipient, but finals can follow one another: a bounce may
arrive after a delivery (the receiving server accepted, then bounced asynchronously) and a
complaint always follows a delivery. Whoever records them decides precedence; a hard bounce, a
complaint or an unsubscribe is what puts an address on the suppression list (`suppresses`), and
only an address the message was sent to.

`detail` keys, present only when the provider said something: `bounceType`, `bounceSubType`,
`bounceClassification`, `diagnosticCode`, `status` (enhanced SMTP status), `smtpResponse`,
`reason`, `feedbackType`, `delayType`, `url`, `attempt`, `feedbackId`, `asmGroupId`,
`machineOpen`.
camelCase because they end up in the API's JSON as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal, get_args

EventType = Literal[
    "delivered",
    "bounced",
    "soft_bounced",
    "complained",
    "deferred",
    "processed",
    "dropped",
    "opened",
    "clicked",
    "unsubscribed",
    "rejected",
]
ProviderName = Literal["ses", "sendgrid"]
Clock = Callable[[], datetime]

EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))
FINAL_TYPES: frozenset[str] = frozenset(
    {"delivered", "bounced", "complained", "rejected", "dropped"}
)
INFORMATIONAL_TYPES: frozenset[str] = EVENT_TYPES - FINAL_TYPES
# The contract's email status each final type points to; informational types change no status.
CONTRACT_STATUS: Mapping[str, str] = MappingProxyType(
    {
        "delivered": "delivered",
        "bounced": "bounced",
        "complained": "complained",
        "rejected": "failed",
        "dropped": "failed",
    }
)


@dataclass(frozen=True)
class DeliveryEvent:
    """One thing a provider reported about one recipient of one message it accepted."""

    provider: ProviderName
    type: EventType
    # The id the provider returned when it accepted the message (`SendResult.message_id`).
    provider_message_id: str
    recipient: str | None
    at: datetime
    # True only for hard bounces: retrying this address will not help.
    permanent: bool = False
    # Left out of the hash so events can go in sets; read-only once built.
    detail: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # The provider's own id for this event, stable across its retries: de-duplicate on it.
    event_id: str | None = None

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")
        if self.at.tzinfo is None or self.at.utcoffset() != timedelta(0):
            raise ValueError("`at` must be an aware datetime in UTC")
        if self.permanent != (self.type == "bounced"):
            raise ValueError("`permanent` is True exactly for hard bounces")
        object.__setattr__(self, "detail", MappingProxyType(dict(self.detail)))

    @property
    def is_final(self) -> bool:
        """Whether this event settles the recipient's outcome (see the module's table)."""
        return self.type in FINAL_TYPES

    @property
    def suppresses(self) -> bool:
        """Whether this event should put the recipient on the suppression list (for every
        provider: one that was told "unsubscribe" must not be followed by another after a
        failover)."""
        return self.type in ("bounced", "complained", "unsubscribed") and self.recipient is not None


class WebhookError(Exception):
    """Base of every webhook failure; carries the provider whose request it was."""

    def __init__(self, message: str, *, provider: ProviderName) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider


class SignatureError(WebhookError):
    """The request is not proven to come from the provider: answer 403 and do nothing."""


class CertificateUnavailable(SignatureError):
    """The signing certificate could not be fetched; answering 5xx lets SNS retry later."""


class MalformedEvent(WebhookError):
    """The request is authentic (or unchecked) but its content cannot be understood: 400."""


def utc_now() -> datetime:
    """The current time, aware, in UTC; the default clock of the verifiers."""
    return datetime.now(UTC)


def compact(**values: Any) -> dict[str, Any]:
    """The keyword arguments that hold a plain scalar; None, "" and nested JSON are left out."""
    # Provider JSON goes straight in here: keeping scalars only keeps `detail` small and flat.
    return {
        key: value
        for key, value in values.items()
        if isinstance(value, str | int | float | bool) and value != ""
    }
