"""What providers report after sending (deliveries, bounces...), verified and normalized.

Plain data in, plain data out: the webhook views hand over the raw body and headers, and get
`DeliveryEvent`s back or a `WebhookError` that says how to answer.
"""

from providers.events.model import (
    CONTRACT_STATUS,
    EVENT_TYPES,
    FINAL_TYPES,
    INFORMATIONAL_TYPES,
    CertificateUnavailable,
    DeliveryEvent,
    EventType,
    MalformedEvent,
    SignatureError,
    WebhookError,
)
from providers.events.sendgrid import SendGridVerifier, sendgrid_events
from providers.events.ses import ses_events
from providers.events.sns import (
    SnsMessage,
    SnsVerifier,
    parse_sns,
    subscribe_url_allowed,
)

__all__ = [
    "CONTRACT_STATUS",
    "EVENT_TYPES",
    "FINAL_TYPES",
    "INFORMATIONAL_TYPES",
    "CertificateUnavailable",
    "DeliveryEvent",
    "EventType",
    "MalformedEvent",
    "SendGridVerifier",
    "SignatureError",
    "SnsMessage",
    "SnsVerifier",
    "WebhookError",
    "parse_sns",
    "ses_events",
    "sendgrid_events",
    "subscribe_url_allowed",
]
