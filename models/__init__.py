"""SQLAlchemy models: plain data and its storage; no Flask, no Celery, no sending."""

from models.api_key import SCOPES, ApiKey
from models.base import Base, utcnow
from models.brand import Brand
from models.email import Email
from models.email_event import EmailEvent
from models.email_recipient import EmailRecipient
from models.email_tag import EmailTag
from models.idempotency_key import IdempotencyKey
from models.list_import import ImportState, ListImport
from models.provider_state import ProviderState
from models.rate_bucket import RateBucket
from models.recipient_list import ListMember, RecipientList
from models.sandbox_message import SandboxMessage
from models.send_attempt import SendAttempt
from models.sender_signature import SenderSignature
from models.status import (
    FINAL_STATUSES,
    IN_FLIGHT_STATUSES,
    TRANSITIONS,
    EmailStatus,
    EventType,
    can_move,
    sources_of,
)
from models.suppression import Suppression
from models.template import Template, TemplateTranslation
from models.webhook_endpoint import CallbackDelivery, WebhookEndpoint

__all__ = [
    "SCOPES",
    "ApiKey",
    "Base",
    "Brand",
    "CallbackDelivery",
    "Email",
    "EmailEvent",
    "EmailRecipient",
    "EmailStatus",
    "EmailTag",
    "EventType",
    "FINAL_STATUSES",
    "IN_FLIGHT_STATUSES",
    "IdempotencyKey",
    "ImportState",
    "ListImport",
    "ListMember",
    "ProviderState",
    "RateBucket",
    "RecipientList",
    "SandboxMessage",
    "SendAttempt",
    "SenderSignature",
    "Suppression",
    "TRANSITIONS",
    "can_move",
    "sources_of",
    "Template",
    "TemplateTranslation",
    "WebhookEndpoint",
    "utcnow",
]
