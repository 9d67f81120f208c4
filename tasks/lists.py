"""Recipient lists in the database: upserting members in batches and paging them by email.

Bulk statements rather than ORM objects, so that a 100,000-row import or a batch send over a
large list stays fast and holds one batch in memory at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, text, update
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


def lock_list(session: Session, list_id: uuid.UUID) -> None:
    """Hold the list's row until the transaction ends, so writers of one list take turns.

    Two imports into one list then never both insert an address (a primary-key conflict) or
    count members mid-way. SQLite ignores FOR UPDATE; its writers are serialized already.
    """
    session.execute(select(RecipientList.id).where(RecipientList.id == list_id).with_for_update())


def refresh_statistics(session: Session) -> None:
    """Let the planner see the rows this import has written so far (its own included).

    Without statistics PostgreSQL estimates that `email IN (<1,000 emails>)` matches every row
    and scans the whole table for each batch's lookup: quadratic in the import's size. Once
    analyzed it probes the primary key. One statement both databases know; SQLite's planner
    uses the key either way.
    """
    session.execute(text("ANALYZE list_members"))


def _write(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Update the members that exist (name, variables, suppressed; created_at stays), insert
    the others, each in one executemany; the emails inserted. The list's row must be locked.
    """
    table = cast(Table, ListMember.__table__)
    existing = set(
        session.scalars(
            select(table.c.email).where(
                table.c.list_id == rows[0]["list_id"],
                table.c.email.in_([row["email"] for row in rows]),
            )
        )
    )
    # Only these keys: any other column named in the parameters would be SET too.
    changed = [
        {
            "key_list_id": row["list_id"],
            "key_email": row["email"],
            "name": row["name"],
            "variables": row["variables"],
            "suppressed": row["suppressed"],
        }
        for row in rows
        if row["email"] in existing
    ]
    new = [row for row in rows if row["email"] not in existing]
    if changed:
        session.execute(
            update(table)
            .where(
                table.c.list_id == bindparam("key_list_id"),
                table.c.email == bindparam("key_email"),
            )
            .values(
                name=bindparam("name"),
                variables=bindparam("variables", type_=table.c.variables.type),
                suppressed=bindparam("suppressed"),
            ),
            changed,
        )
    if new:
        session.execute(insert(table), new)  # Core on the table: executemany, no ORM objects
    return {row["email"] for row in new}


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
    _flushes: int = 0
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
        """Write the queued members: lock the list, look them up, update and insert."""
        if not self._pending:
            return
        lock_list(self.session, self.list_id)
        self._flushes += 1
        if self._flushes == 2:
            refresh_statistics(self.session)
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
