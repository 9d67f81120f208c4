"""Status callbacks: every status change POSTed to the caller's registered endpoints.

A change writes one `CallbackDelivery` row per interested endpoint in the same transaction
(an outbox), and the rows are published after that transaction commits. `deliver_callback`
POSTs the JSON with an HMAC-SHA256 signature and retries with backoff for up to a day; the
sweeper re-publishes a pending delivery whose message was lost.

Signature: `X-Mailroom-Signature: v1=<hex>` where hex is HMAC-SHA256(secret, f"{ts}.{body}")
and `ts` is the `X-Mailroom-Timestamp` header (Unix seconds), so a receiver can refuse replays.

Each attempt goes through `tasks.callback_http`, which refuses URLs that resolve to internal
addresses at the time of the attempt; the task runs on its own lane (`callbacks` in
celeryconfig.LANES), so a slow endpoint holds callback workers, never sending ones.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import CallbackDelivery, WebhookEndpoint, utcnow
from tasks import callback_http, runtime
from tasks.app import celery_app

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Mailroom-Signature"
TIMESTAMP_HEADER = "X-Mailroom-Timestamp"
GIVE_UP_AFTER = timedelta(days=1)
REQUEST_TIMEOUT_SECONDS = callback_http.TIMEOUT_SECONDS


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def due_deliveries(session: Session, lease: timedelta, limit: int) -> list[uuid.UUID]:
    """Pending deliveries whose next attempt is overdue (their message was lost); claimed."""
    now = utcnow()
    overdue = list(
        session.scalars(
            select(CallbackDelivery.id)
            .where(
                CallbackDelivery.state == "pending",
                CallbackDelivery.next_attempt_at < now - timedelta(seconds=5),
            )
            .limit(limit)
        )
    )
    claimed = []
    for delivery_id in overdue:
        result = session.execute(
            update(CallbackDelivery)
            .where(
                CallbackDelivery.id == delivery_id,
                CallbackDelivery.state == "pending",
                CallbackDelivery.next_attempt_at < now - timedelta(seconds=5),
            )
            .values(next_attempt_at=now + lease)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(delivery_id)
    return claimed


def _backoff(attempts: int) -> float:
    delay = min(3600.0, 2.0 * 2 ** max(0, attempts - 1))
    return random.uniform(delay / 2, delay)


@celery_app.task(name="mailroom.deliver_callback", bind=True, acks_late=True, max_retries=None)
def deliver_callback(self: Any, delivery_id: str) -> None:
    """POST one status change to its endpoint; retried with backoff for up to a day."""
    did = uuid.UUID(delivery_id)
    rt = runtime.get()
    with runtime.transaction() as session:
        row = session.get(CallbackDelivery, did)
        if row is None or row.state != "pending":
            return
        endpoint = session.get(WebhookEndpoint, row.endpoint_id)
        if endpoint is None or not endpoint.active:
            row.state, row.last_error = "failed", "endpoint removed"
            return
        # Hold the row for the attempt so the sweeper does not publish it meanwhile.
        row.attempts += 1
        row.next_attempt_at = utcnow() + rt.lease
        url, secret, payload = endpoint.url, endpoint.secret, row.payload
        created_at, attempts = row.created_at, row.attempts
    body = json.dumps({**payload, "deliveryId": delivery_id, "attempt": attempts}).encode()
    timestamp = str(int(time.time()))
    outcome = callback_http.post(
        url,
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": "Mailroom-Callbacks/1",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        },
        allow_loopback=rt.settings.callbacks_allow_loopback,
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    countdown = _finish(did, outcome.status, outcome.error, attempts, created_at)
    if countdown is not None:
        raise self.retry(countdown=countdown)


def _finish(
    did: uuid.UUID, status: int | None, error: str | None, attempts: int, created_at: datetime
) -> float | None:
    """Record the attempt; the countdown to the next one, or None when done."""
    now = utcnow()
    with runtime.transaction() as session:
        row = session.get(CallbackDelivery, did)
        if row is None:
            return None
        row.last_status_code, row.last_error = status, error
        if status is not None and 200 <= status < 300:
            row.state, row.delivered_at = "delivered", now
            return None
        if now - created_at >= GIVE_UP_AFTER:
            row.state = "failed"
            return None
        countdown = _backoff(attempts)
        row.next_attempt_at = now + timedelta(seconds=countdown)
        return countdown
