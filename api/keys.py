"""API keys: creation, and checking a presented key in constant time.

A key reads `mr_<prefix>_<secret>`, or `mr_test_<prefix>_<secret>` for a test-mode key (its
emails go to the sandbox provider), so a test key is told apart at a glance. The prefix finds
the row; only a SHA-256 of the secret is stored. The secret is 32 random bytes, so a fast hash
is enough (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from models import SCOPES, ApiKey, utcnow
from models.db import table_of

KEY_PREFIX = "mr_"
TEST_KEY_PREFIX = "mr_test_"
# last_used_at is written at most this often, so reads do not turn into writes under load.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class InvalidScopes(ValueError):
    """Scopes outside the known set."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(raw: str | Iterable[str]) -> list[str]:
    """`send,read` or a list -> validated, de-duplicated scopes in the order given."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    scopes = list(dict.fromkeys(s.strip().lower() for s in items if s.strip()))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise InvalidScopes(
            f"unknown scopes {', '.join(unknown) or '(none given)'}; known: {', '.join(SCOPES)}"
        )
    return scopes


def create_key(
    session: Session, name: str, scopes: Iterable[str], *, test: bool = False
) -> tuple[ApiKey, str]:
    """Store a new key (a test-mode one with `test`) and return it with its plaintext, which is
    never shown again."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        name=name, prefix=prefix, secret_hash=_hash(secret), scopes=list(scopes), is_test=test
    )
    session.add(key)
    session.flush()
    return key, f"{TEST_KEY_PREFIX if test else KEY_PREFIX}{prefix}_{secret}"


# Built once, on the table: the ORM's compile and loading steps cost more than the query.
_KEYS = table_of(ApiKey)
_BY_PREFIX = select(*_KEYS.c).where(_KEYS.c.prefix == bindparam("prefix"))
_TOUCH = update(_KEYS).where(_KEYS.c.id == bindparam("key_id")).values(last_used_at=bindparam("at"))


def find_key(session: Session, presented: str) -> ApiKey | None:
    """The usable (unrevoked) key matching `presented`, or None; the secret is compared in
    constant time.

    The key is returned detached (read from the table, not loaded into the session): it is
    read, never changed, by the request; `last_used_at` is written here with an UPDATE.
    """
    test = presented.startswith(TEST_KEY_PREFIX)
    lead = TEST_KEY_PREFIX if test else KEY_PREFIX
    if not presented.startswith(lead):
        return None
    prefix, sep, secret = presented[len(lead) :].partition("_")
    if not sep or not prefix or not secret:
        return None
    row = session.execute(_BY_PREFIX, {"prefix": prefix}).mappings().one_or_none()
    expected = row["secret_hash"] if row is not None else _hash("")
    matches = hmac.compare_digest(expected, _hash(secret))
    # The mode written in the key must be the row's: a live key is never used as a test one.
    if row is None or not matches or row["revoked_at"] is not None or row["is_test"] != test:
        return None
    key = ApiKey(**row)
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        session.execute(_TOUCH, {"key_id": key.id, "at": now})
        session.commit()
        key.last_used_at = now
    return key
