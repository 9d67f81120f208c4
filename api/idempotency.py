"""`Idempotency-Key`: the same key and body within 24 h get the first answer, nothing new.

The key's row is inserted in the same transaction as the email it answers for, under a
unique (api key, header value) constraint: of two concurrent requests, exactly one commits,
and the other replays its answer. A different body under the same key is a 409.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.errors import BadRequest, Conflict
from models import IdempotencyKey, utcnow
from models.idempotency_key import TTL

HEADER = "Idempotency-Key"
_VALID = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class Idempotency:
    """The key a request carries and the fingerprint of its body."""

    api_key_id: uuid.UUID
    key: str
    request_hash: str


def from_request(api_key_id: uuid.UUID, body: Any = None) -> Idempotency | None:
    """The request's key, if it sent one, with `body` (default: the JSON body) fingerprinted.

    400 for an unusable value.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _VALID.match(key):
        raise BadRequest(f"`{HEADER}` must be 1 to 255 visible ASCII characters")
    if body is None:
        body = request.get_json(silent=True)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Idempotency(api_key_id, key, hashlib.sha256(canonical.encode()).hexdigest())


def replay(session: Session, idem: Idempotency) -> Response | None:
    """The stored answer for this key, or None when the key is new (or expired)."""
    row = _live_row(session, idem)
    if row is None:
        return None
    response = jsonify(row.response)
    response.status_code = row.status_code
    response.headers["Idempotent-Replayed"] = "true"
    return response


def previous_answer(session: Session, idem: Idempotency) -> dict[str, Any] | None:
    """The stored answer's body for this key, or None when the key is new (or expired)."""
    row = _live_row(session, idem)
    return None if row is None else dict(row.response)


def _live_row(session: Session, idem: Idempotency) -> IdempotencyKey | None:
    """The key's unexpired row; 409 when it was used with a different body."""
    row = session.scalars(
        select(IdempotencyKey).where(
            IdempotencyKey.api_key_id == idem.api_key_id, IdempotencyKey.key == idem.key
        )
    ).one_or_none()
    if row is None:
        return None
    if row.created_at < utcnow() - TTL:
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row.id))
        session.commit()
        return None
    if row.request_hash != idem.request_hash:
        raise Conflict(f"`{HEADER}` `{idem.key}` was already used with a different body")
    return row


def remember(
    session: Session, idem: Idempotency, answer: dict[str, Any], email_id: uuid.UUID
) -> None:
    """Add the key's row to the session, to commit with the email."""
    session.add(
        IdempotencyKey(
            api_key_id=idem.api_key_id,
            key=idem.key,
            request_hash=idem.request_hash,
            status_code=200,
            response=answer,
            email_id=email_id,
        )
    )
