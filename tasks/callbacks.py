"""Status callbacks: every status change POSTed to the caller's registered endpoints.

A change writes one `CallbackDelivery` row per interested endpoint in the same transaction
(an outbox), and the rows are published after that transaction commits. `deliver_callback`
POSTs the JSON signed as Standard Webhooks say and retries with backoff for up to a day; the
sweeper re-publishes a pending delivery whose message was lost.

Signature (https://www.standardwebhooks.com): `webhook-id` (the delivery id, the same on every
retry, so receivers can drop duplicates), `webhook-timestamp` (Unix seconds) and
`webhook-signature: v1,<base64 HMAC-SHA256(key, f"{id}.{ts}.{body}")>`, the key being the
decoded `whsec_` secret. Endpoints registered before, whose secret is not in that form, are
signed the same way with the secret's UTF-8 bytes as key and also keep the older
`X-Mailroom-Signature: v1=<hex HMAC-SHA256(secret, f"{ts}.{body}")>` with
`X-Mailroom-Timestamp`, and their payload's `type` stays `email.status` (the standard type is
in `event`), so their receivers go on working while they move to a new endpoint.

Each attempt goes through `tasks.callback_http`, which refuses URLs that resolve to internal
addresses at the time of the attempt; the task runs on its own lane (`callbacks` in
celeryconfig.LANES), so a slow endpoint holds callback workers, never sending ones.
"""

from __future__ import annotations

import base64
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
from models.callback_events import is_standard, signing_key
from tasks import callback_http, runtime
from tasks.app import celery_app

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Mailroom-Signature"
TIMESTAMP_HEADER = "X-Mailroom-Timestamp"
GIVE_UP_AFTER = timedelta(days=1)
REQUEST_TIMEOUT_SECONDS = callback_http.TIMEOUT_SECONDS


def sign_standard(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The `webhook-signature` value for `body` sent as `msg_id` at `timestamp`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers_for(secret: str, msg_id: str, timestamp: str, body: bytes) -> dict[str, str]:
    """Every header of one delivery: the standard ones, and the older pair for older secrets."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Mailroom-Callbacks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": sign_standard(secret, msg_id, timestamp, body),
    }
    if not is_standard(secret):
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    return headers


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The older `X-Mailroom-Signature` value for `body` sent at `timestamp`."""
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
    sent = {**payload, "deliveryId": delivery_id, "attempt": attempts}
    if not is_standard(secret):
        sent = {**sent, "type": "email.status", "event": payload.get("type")}
    body = json.dumps(sent).encode()
    timestamp = str(int(time.time()))
    outcome = callback_http.post(
        url,
        body,
        headers_for(secret, delivery_id, timestamp, body),
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
