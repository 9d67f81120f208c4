"""Recipient lists in the database: upserting members in batches and paging them by email.

Bulk statements rather than ORM objects, so that a 100,000-row import or a batch send over a
large list stays fast and holds one batch in memory at a time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, func, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from models import ListMember, RecipientList, utcnow
from store.suppressions import suppressed_among

BATCH_SIZE = 1000


def iter_members(
    session: Session, list_id: uuid.UUID, batch_size: int = BATCH_SIZE, *, after: str | None = None
) -> Iterator[list[ListMember]]:
    """The list's members in batches, ordered by email, from just after `after` (keyset paging).

    Each batch is one indexed range query on (list_id, email), so the last batch of a large
    list costs what the first does (OFFSET would rescan every row before it).
    """
    while True:
        stmt = select(ListMember).where(ListMember.list_id == list_id)
        if after is not None:
            stmt = stmt.where(ListMember.email > after)
        batch = list(session.scalars(stmt.order_by(ListMember.email).limit(batch_size)))
        if not batch:
            return
        yield batch
        if len(batch) < batch_size:
            return
        after = batch[-1].email


def count_members(session: Session, list_id: uuid.UUID) -> int:
    """Store the list's member count, counted afresh, and return it."""
    count = session.scalar(
        select(func.count()).select_from(ListMember).where(ListMember.list_id == list_id)
    )
    session.execute(
        update(RecipientList)
        .where(RecipientList.id == list_id)
        .values(member_count=count, updated_at=utcnow())
    )
    return int(count or 0)


# One statement a batch, the members passed as arrays: psycopg sends four array parameters
# instead of parsing (multi-row VALUES) or pipelining (executemany) thousands of them, and
# `xmax = 0` tells a row this statement inserted from one it updated.
_PG_UPSERT = text(
    """
    INSERT INTO list_members (list_id, email, name, variables, suppressed, created_at)
    SELECT CAST(:list_id AS UUID), m.email, m.name, CAST(m.variables AS JSON), m.suppressed,
           CAST(:created_at AS TIMESTAMP WITH TIME ZONE)
    FROM unnest(CAST(:emails AS VARCHAR[]), CAST(:names AS VARCHAR[]),
                CAST(:variables AS TEXT[]), CAST(:suppressed AS BOOLEAN[]))
         AS m(email, name, variables, suppressed)
    ON CONFLICT (list_id, email) DO UPDATE
    SET name = excluded.name, variables = excluded.variables, suppressed = excluded.suppressed
    RETURNING email, xmax = 0
    """
)


def _write_postgresql(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Upsert the rows in one statement; the emails it inserted."""
    result = session.execute(
        _PG_UPSERT,
        {
            "list_id": rows[0]["list_id"],
            "created_at": rows[0]["created_at"],
            "emails": [row["email"] for row in rows],
            "names": [row["name"] for row in rows],
            "variables": [json.dumps(row["variables"]) for row in rows],
            "suppressed": [row["suppressed"] for row in rows],
        },
    )
    return {email for email, inserted in result if inserted}


def _write_sqlite(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Look up which rows exist, then upsert them all in one executemany; the new emails."""
    table = cast(Table, ListMember.__table__)
    # Answered from the primary key index. (PostgreSQL, without statistics on the rows this
    # transaction wrote, planned sequential scans for this lookup: hence its own statement.)
    existing = set(
        session.scalars(
            select(table.c.email).where(
                table.c.list_id == rows[0]["list_id"],
                table.c.email.in_([row["email"] for row in rows]),
            )
        )
    )
    stmt = sqlite.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["list_id", "email"],
        set_={name: stmt.excluded[name] for name in ("name", "variables", "suppressed")},
    )
    session.execute(stmt, rows)  # a Core statement on the table: executemany, no ORM objects
    return {row["email"] for row in rows} - existing


_WRITERS = {"postgresql": _write_postgresql, "sqlite": _write_sqlite}


def _write(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert or replace (name, variables, suppressed; created_at stays); the new emails."""
    dialect = session.get_bind().dialect.name
    if dialect not in _WRITERS:
        raise NotImplementedError(
            f"member writes are made for PostgreSQL and SQLite, not {dialect}"
        )
    return _WRITERS[dialect](session, rows)


@dataclass
class MemberWriter:
    """Adds members to one list in batches; the later of two rows with one email wins.

    `added` counts new members, `updated` members already in the list, `duplicates` rows
    merged into an earlier one with the same email, `suppressed` members on the suppression
    list. The emails seen so far are kept to tell duplicates apart across batches: a set of
    strings, bounded by the request size, far below one ORM object per row.
    """

    session: Session
    list_id: uuid.UUID
    batch_size: int = BATCH_SIZE
    added: int = 0
    updated: int = 0
    duplicates: int = 0
    suppressed: int = 0
    _seen: set[str] = field(default_factory=set)
    _pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Emails of `_pending` seen for the first time in this import (the others are duplicates).
    _fresh: set[str] = field(default_factory=set)

    def add(self, email: str, name: str | None, variables: dict[str, Any]) -> None:
        """Queue one member (`email` already checked and lower-cased); writes a full batch."""
        if email in self._seen:
            self.duplicates += 1
        else:
            self._seen.add(email)
            self._fresh.add(email)
        self._pending[email] = {"email": email, "name": name, "variables": variables}
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write the queued members (one statement; on SQLite a lookup and an executemany)."""
        if not self._pending:
            return
        blocked = suppressed_among(self.session, self._pending)
        now = utcnow()
        rows = [
            {
                **row,
                "list_id": self.list_id,
                "suppressed": row["email"] in blocked,
                "created_at": now,
            }
            for row in self._pending.values()
        ]
        inserted = _write(self.session, rows)
        self.added += len(inserted)
        # Rows seen in an earlier batch of this import were written again: duplicates, not
        # updates.
        self.updated += len(self._fresh - inserted)
        self.suppressed += len(self._fresh & blocked)
        self._pending.clear()
        self._fresh.clear()

    def finish(self) -> int:
        """Write what is left and refresh the list's count; the count (not committed)."""
        self.flush()
        return count_members(self.session, self.list_id)
