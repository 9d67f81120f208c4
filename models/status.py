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

_S = EmailStatus
# Every allowed move, in one place; `can_move` enforces it for every write of a status.
# After `sent`, delivery news only moves up this order: a `delivered` arriving after a
# `bounced` (a late or repeated event, or another recipient) is recorded as an event and
# leaves the bounce standing.
TRANSITIONS: dict[EmailStatus, frozenset[EmailStatus]] = {
    _S.SCHEDULED: frozenset({_S.QUEUED, _S.FAILED, _S.SUPPRESSED}),
    _S.QUEUED: frozenset({_S.RENDERED, _S.FAILED, _S.SUPPRESSED}),
    # rendered -> sent: a worker whose claim was taken over still records its acceptance
    _S.RENDERED: frozenset({_S.SENDING, _S.SENT, _S.FAILED}),
    # back to rendered: a retry gives the claim back
    _S.SENDING: frozenset({_S.RENDERED, _S.SENDING, _S.SENT, _S.FAILED}),
    # sent -> failed: the provider accepted, then dropped or rejected every recipient
    _S.SENT: frozenset({_S.DELIVERED, _S.BOUNCED, _S.COMPLAINED, _S.FAILED}),
    _S.DELIVERED: frozenset({_S.BOUNCED, _S.COMPLAINED}),
    _S.BOUNCED: frozenset({_S.COMPLAINED}),
    _S.COMPLAINED: frozenset(),
    _S.FAILED: frozenset(),
    _S.SUPPRESSED: frozenset(),
}


def can_move(current: EmailStatus, new: EmailStatus) -> bool:
    """Whether an email in `current` may move to `new`."""
    return new in TRANSITIONS[current]


def sources_of(new: EmailStatus) -> frozenset[EmailStatus]:
    """Every status from which `new` may be reached."""
    return frozenset(s for s, targets in TRANSITIONS.items() if new in targets)


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
    SOFT_BOUNCED = "soft_bounced"
    COMPLAINED = "complained"
    DEFERRED = "deferred"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"
    DROPPED = "dropped"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"
    # The console's resend: on the first email (detail.resentAs) and on its copy (resentFrom).
    RESENT = "resent"
