"""SQLAlchemy models: plain data and its storage; no Flask, no Celery, no sending."""

from models.api_key import SCOPES, ApiKey
from models.base import Base, utcnow
from models.brand import Brand
from models.email import Email
from models.email_event import EmailEvent
from models.email_recipient import EmailRecipient
from models.email_tag import EmailTag
from models.send_attempt import SendAttempt
from models.status import FINAL_STATUSES, IN_FLIGHT_STATUSES, EmailStatus, EventType
from models.template import Template, TemplateTranslation

__all__ = [
    "SCOPES",
    "ApiKey",
    "Base",
    "Brand",
    "Email",
    "EmailEvent",
    "EmailRecipient",
    "EmailStatus",
    "EmailTag",
    "EventType",
    "FINAL_STATUSES",
    "IN_FLIGHT_STATUSES",
    "SendAttempt",
    "Template",
    "TemplateTranslation",
    "utcnow",
]
