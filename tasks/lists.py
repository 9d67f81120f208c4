"""Recipient lists in the database: upserting members in batches and paging them by email.

Bulk statements rather than ORM objects, so that a 100,000-row import or a batch send over a
large list stays fast and holds one batch in memory at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import ListMember, RecipientList, utcnow
from tasks.suppressions import suppressed_among

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


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT (list_id, email) DO UPDATE for every row, in one executemany."""
    dialect = session.get_bind().dialect.name
    replaced = ("name", "variables", "suppressed")
    # A member added again is replaced (name, variables, suppressed), keeping its created_at.
    stmt: Any
    if dialect == "postgresql":
        pg = postgresql.insert(ListMember)
        stmt = pg.on_conflict_do_update(
            index_elements=["list_id", "email"], set_={n: pg.excluded[n] for n in replaced}
        )
    elif dialect == "sqlite":
        lite = sqlite.insert(ListMember)
        stmt = lite.on_conflict_do_update(
            index_elements=["list_id", "email"], set_={n: lite.excluded[n] for n in replaced}
        )
    else:
        raise NotImplementedError(
            f"member upserts are written for PostgreSQL and SQLite, not {dialect}"
        )
    # A Core statement on the table: executemany, no ORM objects, no RETURNING.
    session.execute(stmt, rows)


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
        """Write the queued members in one statement."""
        if not self._pending:
            return
        emails = list(self._pending)
        blocked = suppressed_among(self.session, emails)
        existing: set[str] = set()
        if self._fresh:
            existing = set(
                self.session.scalars(
                    select(ListMember.email).where(
                        ListMember.list_id == self.list_id, ListMember.email.in_(self._fresh)
                    )
                )
            )
        self.updated += len(existing)
        self.added += len(self._fresh) - len(existing)
        self.suppressed += len(self._fresh & blocked)
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
        _upsert(self.session, rows)
        self._pending.clear()
        self._fresh.clear()

    def finish(self) -> int:
        """Write what is left and refresh the list's count; the count (not committed)."""
        self.flush()
        return count_members(self.session, self.list_id)
