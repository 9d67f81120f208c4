"""Status callbacks' outbox: a status change writes one delivery row per interested endpoint,
in the change's own transaction; `tasks.callbacks` publishes them once it commits."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from models import WebhookEndpoint, utcnow
from models.callback_events import event_type
from store.tables import DELIVERIES, ENDPOINTS, connection

# session.info key of the delivery ids to publish after commit (read by tasks.callbacks).
PENDING_KEY = "mailroom.callbacks"
# Endpoints are read at most this often per process: a new one takes effect within a second.
ENDPOINT_CACHE_SECONDS = 1.0
# Tracking events an endpoint may name; only an endpoint that names one receives it.

_cache: tuple[float, list[tuple[uuid.UUID, frozenset[str]]]] | None = None
_cache_lock = threading.Lock()


def _endpoints(session: Session) -> list[tuple[uuid.UUID, frozenset[str]]]:
    global _cache
    with _cache_lock:
        if _cache is not None and time.monotonic() - _cache[0] < ENDPOINT_CACHE_SECONDS:
            return _cache[1]
    rows = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.active)
    ).all()
    found = [(row.id, frozenset(row.events or ())) for row in rows]
    with _cache_lock:
        _cache = (time.monotonic(), found)
    return found


def forget_endpoints() -> None:
    """Drop the cached endpoint list (after an endpoint is added or removed here)."""
    global _cache
    with _cache_lock:
        _cache = None


def queue_status_changes(
    session: Session,
    email_ids: Sequence[uuid.UUID],
    status: str,
    test_ids: Collection[uuid.UUID] = (),
) -> None:
    """Write a delivery for each endpoint that wants `status`, for each email; those of
    `test_ids` (test-mode emails) say `"mode": "test"`, the others `"live"`."""
    queue_events(session, email_ids, status, test_ids, status=status)


def queue_events(
    session: Session,
    email_ids: Sequence[uuid.UUID],
    word: str,
    test_ids: Collection[uuid.UUID] = (),
    *,
    status: str | None = None,
    detail: Any = None,
    named_only: bool = False,
) -> None:
    """Write a delivery of the event `word` (a status, or `opened`, `failed_over`, ...) for
    each endpoint that wants it, for each email. `status` is the email's status when known;
    with `named_only`, endpoints that asked for every event (an empty list) are left out."""
    wanted = [
        eid
        for eid, events in _endpoints(session)
        if word in events or (not events and not named_only)
    ]
    if not wanted or not email_ids:
        return
    # The list is cached per process: an endpoint deleted since (by another process) must not
    # fail this change on its foreign key. Those still there are held (FOR SHARE on
    # PostgreSQL) until this transaction ends, so they cannot vanish before the INSERT.
    endpoints = list(
        connection(session).scalars(
            select(ENDPOINTS.c.id)
            .where(ENDPOINTS.c.id.in_(wanted), ENDPOINTS.c.active)
            .with_for_update(read=True)
        )
    )
    if not endpoints:
        return
    now = utcnow()
    rows = []
    for email_id in email_ids:
        mode = "test" if email_id in test_ids else "live"
        data = {"emailId": str(email_id), "status": status, "mode": mode, "detail": detail}
        # Standard Webhooks' envelope (type, timestamp, data), with the older flat fields kept
        # beside it so receivers written for them go on working.
        payload = {
            "type": event_type(word),
            "timestamp": now.isoformat(),
            "data": data,
            **data,
            "at": now.isoformat(),
        }
        for endpoint_id in endpoints:
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "endpoint_id": endpoint_id,
                    "email_id": email_id,
                    "event": word,
                    "payload": payload,
                    "next_attempt_at": now,
                    "created_at": now,
                    "state": "pending",
                    "attempts": 0,
                }
            )
    connection(session).execute(insert(DELIVERIES), rows)
    session.info.setdefault(PENDING_KEY, []).extend(row["id"] for row in rows)


def queue_engagement(
    session: Session, email_id: uuid.UUID, event: str, detail: Any, *, is_test: bool
) -> None:
    """Write a delivery of a tracking event (`opened`, `clicked`) for each endpoint that names
    it: unlike status changes, an endpoint that asked for every change does not get them (they
    can be many, and receivers written before tracking expect statuses only)."""
    test_ids = {email_id} if is_test else set()
    queue_events(session, [email_id], event, test_ids, detail=detail, named_only=True)
