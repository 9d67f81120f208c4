"""Bulk sends: many emails per task message instead of a four-task chain per email.

A chain costs four broker round-trips per email; a batch of a hundred costs one. Each email
still goes through the same idempotent steps (render, attachments, send with its claim,
record), so a redelivered batch, or a sweeper re-publishing one of its emails as a chain,
sends nothing twice. An email that cannot finish in the batch (no provider took it, or an
unexpected error) continues as its own chain with retries and the poison-message budget.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from celery import Task
from kombu.exceptions import KombuError

from tasks.app import celery_app
from tasks.pipeline import (
    PublishError,
    enqueue,
    fetch_step,
    record_status,
    record_step,
    render_step,
    send,
    send_step,
)

log = logging.getLogger(__name__)
CHUNK = 100


@celery_app.task(name="mailroom.send_batch", bind=True, acks_late=True, ignore_result=True)
def send_batch(self: Task, email_ids: list[str]) -> None:
    """Render, send and record each email of a chunk in this one task."""
    for email_id in email_ids:
        eid = uuid.UUID(email_id)
        try:
            render_step(eid)
            fetch_step(eid)
            countdown = send_step(eid)
        except Exception:  # noqa: BLE001 - one bad email must not stall the other 99
            log.exception("email %s left the batch for its own chain", eid)
            enqueue([eid])
            continue
        if countdown is not None:
            send.apply_async((email_id,), countdown=countdown, chain=[record_status.si(email_id)])
            continue
        record_step(eid)


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
    try:
        with celery_app.producer_or_acquire() as producer:
            for start in range(0, len(ids), CHUNK):
                send_batch.apply_async(
                    (ids[start : start + CHUNK],), producer=producer, headers=headers
                )
    except (KombuError, OSError) as err:
        raise PublishError(str(err)) from err


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
