"""The email statuses of the contract, which of them are final, and the event types we record."""

from __future__ import annotations

from enum import StrEnum


class EmailStatus(StrEnum):
    """Where an email stands; the values are the contract's words."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RENDERED = "rendered"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


# The pipeline is done with an email in these states; the sweeper never touches them.
FINAL_STATUSES = frozenset(
    {
        EmailStatus.SENT,
        EmailStatus.DELIVERED,
        EmailStatus.BOUNCED,
        EmailStatus.COMPLAINED,
        EmailStatus.FAILED,
        EmailStatus.SUPPRESSED,
    }
)
IN_FLIGHT_STATUSES = frozenset({EmailStatus.QUEUED, EmailStatus.RENDERED, EmailStatus.SENDING})


class EventType(StrEnum):
    """Kinds of `EmailEvent`; each status change writes one."""

    ACCEPTED = "accepted"
    QUEUED = "queued"
    REQUEUED = "requeued"
    RENDERED = "rendered"
    ATTACHMENTS_READY = "attachments_ready"
    SENDING = "sending"
    RETRY = "retry"
    AMBIGUOUS = "ambiguous"
    RECLAIMED = "reclaimed"
    UNPINNED = "unpinned"
    SENT = "sent"
    RECIPIENT_REJECTED = "recipient_rejected"
    FAILED = "failed"
    RECORDED = "recorded"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
