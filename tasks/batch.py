"""Bulk sends: many emails per task message instead of a four-task chain per email.

A chain costs four broker round-trips and about five commits per email. A batch of a hundred
costs one message and one transaction to prepare them all (tasks.prepare) on the bulk lane's
CPU workers, then one message per group of RECORD_EVERY on the bulk sending lane, whose threads
claim the group, send, and record it in one transaction (tasks.sending): the chain's own steps,
on lists. Many groups are in flight at once, so provider latency is hidden.

Every email is claimed just before a provider is called, so a redelivered batch, or a sweeper
re-publishing one of its emails as a chain, sends nothing twice. An email that cannot finish in
its group (no provider took it, or an unexpected error) continues as its own chain with
retries and the poison-message budget.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import partial

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from store.stored import StoredEmail, load
from tasks import runtime
from tasks.app import celery_app
from tasks.prepare import describe_emails, render_emails
from tasks.publish import BULK_SEND, GROUP, SEND_STEP, publish, publish_chain
from tasks.sending import send_group

log = logging.getLogger(__name__)
# Sends recorded per transaction: bounds what a worker killed mid-group may send twice (its
# claims expire and are sent again) while keeping commits well below one per email.
RECORD_EVERY = GROUP


@celery_app.task(name="mailroom.send_batch", bind=True, acks_late=True, ignore_result=True)
def send_batch(self: Task, email_ids: list[str]) -> None:
    """Prepare the chunk in one transaction, then publish its groups to the bulk sending lane."""
    ids = [uuid.UUID(e) for e in email_ids]
    try:
        ready, leftovers = prepare_chunk(ids)
    except SoftTimeLimitExceeded:
        # One slow render must not fail its neighbours: each email goes on as its own chain,
        # whose render has its own limit (the chunk's transaction was rolled back).
        log.warning("batch chunk of %d emails ran out of time; each goes on alone", len(ids))
        ready, leftovers = [], ids
    with runtime.transaction() as session:
        if leftovers:
            publish(session, leftovers)
        publish(session, [e.id for e in ready], groups=True)


def prepare_chunk(email_ids: list[uuid.UUID]) -> tuple[list[StoredEmail], list[uuid.UUID]]:
    """Render and describe the attachments of a chunk's emails in one transaction: those
    ready to send, and those an unexpected error left for their own chains."""
    with runtime.transaction() as session:
        # A rendered email with tries behind it has its own retry chain: not ours.
        emails = [e for e in load(session, email_ids) if e.send_tries == 0]
        prepared = render_emails(session, emails, record=True, isolate=True)
        return describe_emails(session, prepared.emails, record=True), prepared.leftovers


@celery_app.task(name="mailroom.send_group", bind=True, acks_late=True, ignore_result=True)
def send_group_task(self: Task, email_ids: list[str]) -> None:
    """Claim a group of prepared emails, send each, record them all; hand on what is left."""
    result = send_group([uuid.UUID(e) for e in email_ids], first_try=True, record=True)
    for email_id, countdown in {**result.retries, **result.throttled}.items():
        _best_effort(
            f"publish the retry of {email_id}",
            partial(
                publish_chain, email_id, from_step=SEND_STEP, countdown=countdown, queue=BULK_SEND
            ),
        )
    for email_id in result.unsent:
        _best_effort(
            f"hand email {email_id} over",
            partial(publish_chain, email_id, from_step=SEND_STEP, queue=BULK_SEND),
        )
    if result.waiting:
        # Held by a worker that may have died: take them over when its claims expire.
        waiting = [str(e) for e in result.waiting]
        _best_effort(
            "publish the group's waiting emails",
            partial(
                send_group_task.apply_async,
                (waiting,),
                countdown=max(result.waiting.values()) + 1.0,
            ),
        )


def _best_effort(what: str, work: Callable[[], object]) -> None:
    """Do `work`, or log why not: the sweeper finds what it leaves undone (the row is in
    flight) and the batch goes on with its other emails."""
    try:
        work()
    except Exception:  # noqa: BLE001
        log.exception("could not %s; the sweeper will", what)
