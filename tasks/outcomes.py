"""What a group of failover walks means for their emails, written in one transaction.

The same for a chain's one email and a batch's group: attempts are stored, acceptances marked
sent, refusals failed, and anything else given back for a retry later with backoff (pinned to
the provider of an ambiguous answer, which may hold the message: never fail over after one).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from models import EventType, utcnow
from providers.failover import FailoverOutcome
from store.claims import Claim, release
from store.events import Event, add_events, record_attempts
from store.outbox import queue_events
from store.outcomes import Acceptance, fail, mark_sent
from store.sandbox import keep_raw


def backoff(tries: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: spreads retries of many emails after one outage."""
    delay = min(cap, base * 2 ** max(0, tries - 1))
    return random.uniform(delay / 2, delay)


def record_outcomes(
    session: Session,
    outcomes: Sequence[tuple[Claim, FailoverOutcome]],
    settings: Any,
    *,
    record: bool = False,
) -> tuple[dict[uuid.UUID, float], dict[uuid.UUID, float]]:
    """Write the attempts and the verdicts. Returns the countdown to a retry of each email
    that needs one, and of each that was throttled (the try was not made, so it does not
    count against the email's budget). With `record`, final emails get their outcome record
    in the same statements."""
    record_attempts(session, [(c.email_id, a) for c, o in outcomes for a in o.attempts])
    mark_sent(
        session,
        [
            Acceptance(c, o.result.provider, o.result.message_id, dict(o.result.rejected))
            for c, o in outcomes
            if o.verdict == "sent" and o.result is not None
        ],
        record=record,
    )
    # A fallback provider had to take it: callers hear of it (`email.failed_over`).
    for c, o in outcomes:
        failed = [a.provider for a in o.attempts if a.outcome == "failed"]
        if o.verdict == "sent" and o.result is not None and failed:
            detail = f"sent by {o.result.provider} after {', '.join(failed)} failed"
            queue_events(session, [c.email_id], "failed_over", status="sent", detail=detail)
    # The sandbox's acceptances carry the message itself: kept with the verdict, in one commit.
    keep_raw(
        session,
        {
            c.email_id: (o.result.message_id, o.result.raw)
            for c, o in outcomes
            if o.verdict == "sent" and o.result is not None and o.result.raw is not None
        },
    )
    failures: dict[uuid.UUID, str] = {}
    retries: dict[uuid.UUID, float] = {}
    throttled: dict[uuid.UUID, float] = {}
    events: list[Event] = []
    for claim, outcome in outcomes:
        if outcome.verdict == "sent" and outcome.result is not None:
            continue
        reason = outcome.error or "every provider failed"
        if outcome.verdict == "throttled":
            # Spread the waiting emails over the next second so they do not return together.
            countdown = (outcome.retry_after or 0.0) + random.uniform(0.0, 1.0)
            retry_at = utcnow() + timedelta(seconds=countdown)
            release(session, [claim], retry_at=retry_at, reason=reason, refund_try=True)
            throttled[claim.email_id] = countdown
        elif outcome.verdict == "rejected":
            failures[claim.email_id] = reason
        elif claim.tries > settings.send_max_retries:
            failures[claim.email_id] = f"gave up after {claim.tries} tries: {reason}"
        else:
            countdown = backoff(
                claim.tries, settings.retry_backoff_seconds, settings.retry_backoff_max_seconds
            )
            retry_at = utcnow() + timedelta(seconds=countdown)
            ambiguous = outcome.verdict == "ambiguous"
            pinned = outcome.ambiguous_provider if ambiguous else None
            release(session, [claim], retry_at=retry_at, reason=reason, pinned_provider=pinned)
            retries[claim.email_id] = countdown
            events.append(
                Event(
                    claim.email_id,
                    EventType.AMBIGUOUS if ambiguous else EventType.RETRY,
                    detail={"reason": reason, "retryAt": retry_at.isoformat(), "try": claim.tries},
                    provider=outcome.ambiguous_provider,
                )
            )
    fail(session, failures, record=record)
    add_events(session, events)
    return retries, throttled
