"""Bulk sends: many emails per task message instead of a four-task chain per email.

A chain costs four broker round-trips and about five commits per email; a batch of a hundred
costs one message, one transaction to render them all, then per group of RECORD_EVERY one
transaction to claim the group and one to record its sends (tasks/batch_steps.py). Every
email is claimed just before a provider is called, so a redelivered batch, or a sweeper
re-publishing one of its emails as a chain, sends nothing twice. An email that cannot finish
in the batch (no provider took it, or an unexpected error) continues as its own chain with
retries and the poison-message budget.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from celery import Task
from kombu.exceptions import KombuError

from mailroom import metrics
from models import utcnow
from providers.failover import FailoverOutcome
from tasks import batch_steps, email_store, runtime
from tasks.app import celery_app
from tasks.message import with_attachments
from tasks.pipeline import (
    PublishError,
    enqueue,
    record_status,
    record_step,
    send,
    with_db_retries,
)

log = logging.getLogger(__name__)
CHUNK = 100


@celery_app.task(name="mailroom.send_batch", bind=True, acks_late=True, ignore_result=True)
def send_batch(self: Task, email_ids: list[str]) -> None:
    """Render the chunk in one transaction; then, group by group, claim, send over this
    process's provider connections, and record."""
    prepared = batch_steps.prepare([uuid.UUID(e) for e in email_ids])
    if prepared.leftovers:
        _best_effort("publish the leftovers' chains", lambda: _publish(prepared.leftovers))
    rt = runtime.get()
    for group in chunks(prepared.ready, batch_steps.RECORD_EVERY):
        with runtime.transaction() as session:
            claimed = batch_steps.claim_group(session, group)
        outcomes: list[tuple[email_store.Claim, FailoverOutcome]] = []
        unsent: list[email_store.Claim] = []
        try:
            for claim in claimed:
                try:
                    ready = prepared.ready[claim.email_id]
                    message = with_attachments(ready.message, ready.manifest, rt.storage)
                    outcomes.append((claim, rt.sender.send(message)))
                except Exception:  # noqa: BLE001 - not a provider's answer: the email's own chain
                    log.exception("email %s left the batch for its own chain", claim.email_id)
                    unsent.append(claim)
        finally:
            # Whatever happens, what the providers accepted is recorded first: an acceptance
            # left unrecorded would be sent again once its lease ran out.
            done = {c.email_id for c, _ in outcomes} | {c.email_id for c in unsent}
            unsent.extend(c for c in claimed if c.email_id not in done)
            recorded = with_db_retries(
                partial(batch_steps.record, outcomes=outcomes, settings=rt.settings)
            )
            for _, outcome in outcomes:
                metrics.record_attempts(outcome.attempts)
            for claim in unsent:
                _best_effort(f"hand email {claim.email_id} over", partial(_hand_over, claim))
        for email_id, countdown in recorded.retries:
            eid = str(email_id)
            _best_effort(
                f"publish the retry of {eid}",
                partial(
                    send.apply_async, (eid,), countdown=countdown, chain=[record_status.si(eid)]
                ),
            )
        for email_id in recorded.to_record:
            _best_effort(f"record {email_id}", partial(record_step, email_id))


def _publish(email_ids: list[uuid.UUID]) -> None:
    try:
        enqueue(email_ids)
    except PublishError as err:
        # Due for the sweeper's next run instead of a lease from now.
        with runtime.transaction() as session:
            email_store.forget_publish(session, err.unpublished)


def _best_effort(what: str, work: Callable[[], object]) -> None:
    """Do `work`, or log why not: the sweeper finds what it leaves undone (the row is in
    flight) and the batch goes on with its other emails."""
    try:
        work()
    except Exception:  # noqa: BLE001
        log.exception("could not %s; the sweeper will", what)


def _hand_over(claim: email_store.Claim) -> None:
    """Give the claim back and publish the email's own send → record_status chain."""
    with runtime.transaction() as session:
        email_store.release_claim(session, claim, retry_at=utcnow(), reason="left its batch")
    eid = str(claim.email_id)
    send.apply_async((eid,), chain=[record_status.si(eid)])


def publish_batches(
    email_ids: Sequence[uuid.UUID | str], correlation: Mapping[str, str | None] | None = None
) -> None:
    """Publish the emails in chunks of CHUNK, one task message each (after commit)."""
    ids = [str(eid) for eid in email_ids]
    headers = {}
    if correlation:
        from mailroom.logs import CORRELATION_HEADER

        first = next(iter(correlation.values()), None)
        headers = {CORRELATION_HEADER: first} if first else {}
    start = 0
    try:
        with celery_app.producer_or_acquire() as producer:
            for start in range(0, len(ids), CHUNK):
                send_batch.apply_async(
                    (ids[start : start + CHUNK],), producer=producer, headers=headers
                )
    except (KombuError, OSError) as err:
        # The chunks before this one were confirmed: only the rest needs the sweeper.
        raise PublishError(str(err), ids[start:]) from err


def chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    """Lists of at most `size` items."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
