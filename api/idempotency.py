"""`Idempotency-Key`: the same key and body within 24 h get the first answer, nothing new.

The key's row is inserted in the same transaction as the email it answers for, under a
unique (api key, header value) constraint: of two concurrent requests, exactly one commits,
and the other replays its answer. A different body under the same key is a 409.
`answer_once` is that whole story, for every sending endpoint (`/send`, Hasura's `sendEmail`,
`/send/batch`, GoMail's): each gives it a function that stores and answers.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import BadRequest, Conflict
from models import IdempotencyKey, utcnow
from models.idempotency_key import TTL

HEADER = "Idempotency-Key"
# The header as an OpenAPI parameter, for each endpoint that honours it.
HEADER_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": "the same key and body within 24 h return the first answer",
}
_VALID = re.compile(r"^[\x21-\x7e]{1,255}$")

# What a store function calls, before its commit, with its answer and the email it stored.
Remember = Callable[[dict[str, Any], "uuid.UUID | None"], None]


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


def answer_once(
    session: Session, idem: Idempotency | None, store: Callable[[Remember], dict[str, Any]]
) -> tuple[dict[str, Any], bool]:
    """`store`'s answer, and False; or, for a key already used, its first answer, and True.

    `store` validates what is left to validate, writes, calls the `Remember` it is given with
    its answer before it commits, commits and answers. Without a key it simply runs.
    """
    if idem is None:
        return store(_forget), False
    previous = previous_answer(session, idem)
    if previous is not None:
        return previous, True

    def remember_answer(answer: dict[str, Any], email_id: uuid.UUID | None) -> None:
        remember(session, idem, answer, email_id)

    try:
        return store(remember_answer), False
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as it did.
        session.rollback()
        previous = previous_answer(session, idem)
        if previous is None:
            raise
        return previous, True


def _forget(answer: dict[str, Any], email_id: uuid.UUID | None) -> None:
    """No key, nothing to remember."""


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
    session: Session, idem: Idempotency, answer: dict[str, Any], email_id: uuid.UUID | None
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
