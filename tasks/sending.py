"""Sending a group of emails: claim them, walk the providers for each, record what happened.

The chain's send step is a group of one; a batch sends its chunk group by group, so a claim's
lease covers one group's sends and a worker killed mid-batch can duplicate at most one group.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mailroom import metrics
from models import EventType, utcnow
from providers.failover import FailoverOutcome
from store.claims import Claim, claim, held_elsewhere, release, renew
from store.events import Event, add_events
from store.outcomes import fail
from store.stored import StoredEmail, load
from store.transitions import lock_in_order
from tasks import runtime
from tasks.attachments import AttachmentsRefused
from tasks.message import build_outbound
from tasks.outcomes import record_outcomes

log = logging.getLogger(__name__)
T = TypeVar("T")
UNPINNED = (
    "the provider of an earlier ambiguous attempt is no longer configured; "
    "sending through the others may deliver a second copy"
)


@dataclass
class GroupResult:
    """What sending a group left to do."""

    # Emails to try again after a countdown (seconds); their claims were given back.
    retries: dict[uuid.UUID, float] = field(default_factory=dict)
    # Emails whose message could not be built or sent (not a provider's answer), and why;
    # their claims were given back for their own retry.
    unsent: dict[uuid.UUID, BaseException] = field(default_factory=dict)
    # Emails over their providers' rates: the seconds until a token comes (not a try).
    throttled: dict[uuid.UUID, float] = field(default_factory=dict)
    # Emails another worker holds a live claim on: the seconds until its lease runs out,
    # when a task may take the claim over (that worker may have died).
    waiting: dict[uuid.UUID, float] = field(default_factory=dict)
    # How many emails this call claimed.
    claimed: int = 0


def send_group(
    email_ids: Sequence[uuid.UUID],
    *,
    first_try: bool = False,
    record: bool = False,
    known: Mapping[uuid.UUID, StoredEmail] | None = None,
) -> GroupResult:
    """Claim the emails of `email_ids` that are ready, send each, record every outcome.

    `known` are emails the caller has just prepared (a batch): their messages are built from
    it instead of being read again. With `record`, final emails get their outcome record at once.
    """
    rt = runtime.get()
    lease = rt.claim_lease
    result = GroupResult()
    with runtime.transaction() as session:
        claims = claim(session, email_ids, lease, first_try=first_try)
        claimed = {c.email_id for c in claims}
        result.waiting = held_elsewhere(session, [e for e in email_ids if e not in claimed], lease)
        missing = [c.email_id for c in claims if known is None or c.email_id not in known]
        emails = {**(known or {}), **{e.id: e for e in load(session, missing)}}
    result.claimed = len(claims)
    outcomes: list[tuple[Claim, FailoverOutcome]] = []
    events: list[Event] = []
    refused: dict[uuid.UUID, str] = {}
    renewed = time.monotonic()
    try:
        for n, c in enumerate(claims):
            if time.monotonic() - renewed > lease.total_seconds() / 3:
                # Slow sends: keep the claims on the rest of the group alive.
                with runtime.transaction() as session:
                    renew(session, claims[n:])
                renewed = time.monotonic()
            email = emails[c.email_id]
            # The email's own mode, fixed at acceptance from its key, picks the providers.
            sender = rt.sender_for(email.is_test)
            try:
                message = build_outbound(email, rt.storage)
                pinned = email.pinned_provider
                if pinned is not None and pinned not in {p.name for p in sender.providers}:
                    # The operator stopped using the provider that may hold this message: walk
                    # the others and say a copy may exist.
                    events.append(Event(c.email_id, EventType.UNPINNED, UNPINNED, provider=pinned))
                    pinned = None
                # A test email goes to the sandbox whatever providers it asked for.
                among = None if email.is_test else email.providers
                outcomes.append((c, sender.send(message, only=pinned, among=among)))
            except AttachmentsRefused as err:  # changed since described: a retry cannot help
                refused[c.email_id] = str(err)
            except Exception as err:  # noqa: BLE001 - not a provider's answer: its own retry
                log.exception("email %s could not be sent in its group", c.email_id)
                result.unsent[c.email_id] = err
    finally:
        # Whatever happens, what the providers accepted is recorded first: an acceptance left
        # unrecorded would be sent again once its lease ran out.
        done = {c.email_id for c, _ in outcomes} | refused.keys()
        given_back = [c for c in claims if c.email_id not in done]

        def write(session: Session) -> tuple[dict[uuid.UUID, float], dict[uuid.UUID, float]]:
            # Every row of the group, in id order first, as claims and prepares lock theirs.
            lock_in_order(session, [c.email_id for c in claims])
            add_events(session, events)
            fail(session, refused, record=record)
            for c in given_back:
                error = result.unsent.get(c.email_id)
                reason = repr(error)[:2000] if error is not None else "interrupted"
                release(session, [c], retry_at=utcnow(), reason=reason)
            return record_outcomes(session, outcomes, rt.settings, record=record)

        result.retries, result.throttled = with_db_retries(write)
        for c, outcome in outcomes:
            metrics.record_attempts(outcome.attempts)
            _log(c, outcome)
    return result


def _log(_claim: Claim, outcome: FailoverOutcome) -> None:
    provider = outcome.result.provider if outcome.result else outcome.ambiguous_provider
    log.info(
        "send %s after %d attempt(s)",
        outcome.verdict,
        len(outcome.attempts),
        extra={"provider": provider, "verdict": outcome.verdict},
    )


def with_db_retries(work: Callable[[Session], T], *, attempts: int = 8) -> T:
    """Run `work` in a transaction, retrying while the database is unreachable.

    Used once a provider has accepted the message: failing to record that would turn a crash
    into a duplicate send, so it is worth waiting for the database to come back.
    """
    for n in range(attempts):
        try:
            with runtime.transaction() as session:
                return work(session)
        except OperationalError:
            if n == attempts - 1:
                raise
            log.warning("database unavailable while recording a send; retrying", exc_info=True)
            time.sleep(min(8.0, 0.25 * 2**n))
    raise AssertionError("unreachable")
