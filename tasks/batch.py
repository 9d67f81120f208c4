"""Bulk sends: many emails per task message instead of a four-task chain per email.

A chain costs four broker round-trips and about five commits per email; a batch of a hundred
costs one message and one transaction to prepare them all (tasks.prepare), then per group of
RECORD_EVERY one transaction to claim the group and one to record its sends (tasks.sending):
the chain's own steps, on lists. Every email is claimed just before a provider is called, so a
redelivered batch, or a sweeper re-publishing one of its emails as a chain, sends nothing twice.
An email that cannot finish in the batch (no provider took it, or an unexpected error)
continues as its own chain with retries and the poison-message budget.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from celery import Task

from store.stored import load
from tasks import runtime
from tasks.app import celery_app
from tasks.prepare import describe_emails, render_emails
from tasks.publish import SEND_STEP, publish, publish_chain
from tasks.sending import send_group

log = logging.getLogger(__name__)
# Sends recorded per transaction: bounds what a worker killed mid-batch may send twice (its
# claims expire and are sent again) while keeping commits well below one per email.
RECORD_EVERY = 10


@celery_app.task(name="mailroom.send_batch", bind=True, acks_late=True, ignore_result=True)
def send_batch(self: Task, email_ids: list[str]) -> None:
    """Prepare the chunk in one transaction; then, group by group, claim, send over this
    process's provider connections, and record."""
    ids = [uuid.UUID(e) for e in email_ids]
    with runtime.transaction() as session:
        # A rendered email with tries behind it has its own retry chain: not ours.
        emails = [e for e in load(session, ids) if e.send_tries == 0]
        prepared = render_emails(session, emails, record=True, isolate=True)
        ready = {e.id: e for e in describe_emails(session, prepared.emails, record=True)}
    if prepared.leftovers:
        with runtime.transaction() as session:
            _best_effort(
                "publish the leftovers' chains", partial(publish, session, prepared.leftovers)
            )
    for group in chunks(sorted(ready), RECORD_EVERY):
        result = send_group(group, first_try=True, record=True, known=ready)
        for email_id, countdown in result.retries.items():
            _best_effort(
                f"publish the retry of {email_id}",
                partial(publish_chain, email_id, from_step=SEND_STEP, countdown=countdown),
            )
        for email_id in result.unsent:
            _best_effort(
                f"hand email {email_id} over",
                partial(publish_chain, email_id, from_step=SEND_STEP),
            )


def _best_effort(what: str, work: Callable[[], object]) -> None:
    """Do `work`, or log why not: the sweeper finds what it leaves undone (the row is in
    flight) and the batch goes on with its other emails."""
    try:
        work()
    except Exception:  # noqa: BLE001
        log.exception("could not %s; the sweeper will", what)


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
