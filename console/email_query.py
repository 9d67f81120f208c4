"""The console's email list: filters from the query string, a keyset page, counts per status."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from api.paging import newest_first, page
from console.errors import ConsoleError
from models import Email, EmailRecipient, EmailStatus, EmailTag

PAGE_SIZE = 50
# Counting stops here: a page's counts stay fast on a table of millions.
COUNT_CAP = 10_000
# Under a filter other than time, no index leads with the status: the counts are taken among
# the newest matches (one walk of the filter's index), this many, and the page says so when
# there are more. A tag's walk checks each email's tags by primary key, hence a smaller window.
WINDOW = 10_000
TAG_WINDOW = 1_000
FILTERS = (
    "mode",
    "to",
    "status",
    "tag",
    "batch",
    "template",
    "request",
    "provider",
    "after",
    "before",
)
# Test-mode and live emails are never listed together (as GET /emails).
MODES = ("live", "test")
# POST /send/batch tags each email of a batch or list send with its batchId.
BATCH_TAG = "batch:{}"


@dataclass(frozen=True)
class EmailFilter:
    """What the list shows: every field optional, as typed in the form (an empty `mode`: the
    signed-in key's)."""

    mode: str = ""
    to: str = ""
    status: str = ""
    tag: str = ""
    batch: str = ""
    template: str = ""
    request: str = ""
    provider: str = ""
    after: str = ""
    before: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> EmailFilter:
        """The filter from a query string, each value stripped."""
        return cls(**{name: (args.get(name) or "").strip() for name in FILTERS})

    def as_args(self) -> dict[str, str]:
        """The non-empty fields, for links to the next page or a status."""
        return {name: getattr(self, name) for name in FILTERS if getattr(self, name)}


@dataclass(frozen=True)
class EmailPage:
    """One page of emails, the cursor of the next, and counts per status."""

    emails: list[Email]
    next_cursor: str | None
    counts: dict[str, int]
    # Set when the counts are among the newest `window` matches only (a tag filter).
    window: int | None = None


def _when(raw: str, name: str) -> datetime:
    try:
        at = datetime.fromisoformat(raw)
    except ValueError as err:
        raise ConsoleError(400, f"`{name}` is not a date and time (e.g. 2026-12-08T09:30)") from err
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def filtered(stmt: Select[Any], f: EmailFilter, *, with_status: bool = True) -> Select[Any]:
    """`stmt` restricted to the emails `f` names; BadRequest for a value that cannot match."""
    if f.mode not in MODES:
        raise ConsoleError(400, "`mode` must be live or test")
    stmt = stmt.where(Email.is_test.is_(f.mode == "test"))
    if f.to:
        address = f.to.lower()
        stmt = stmt.where(
            Email.id.in_(select(EmailRecipient.email_id).where(EmailRecipient.address == address))
        )
    if with_status and f.status:
        if f.status not in {s.value for s in EmailStatus}:
            raise ConsoleError(400, f"`status` must be one of {', '.join(EmailStatus)}")
        stmt = stmt.where(Email.status == EmailStatus(f.status))
    for tag in (f.tag, BATCH_TAG.format(f.batch) if f.batch else ""):
        if tag:
            stmt = stmt.where(Email.id.in_(select(EmailTag.email_id).where(EmailTag.tag == tag)))
    if f.template:
        try:
            stmt = stmt.where(Email.template_id == uuid.UUID(f.template))
        except ValueError as err:
            raise ConsoleError(400, "`template` must be a template id (a UUID)") from err
    if f.request:
        stmt = stmt.where(Email.correlation_id == f.request)
    if f.provider:
        stmt = stmt.where(Email.provider == f.provider)
    if f.after:
        stmt = stmt.where(Email.created_at >= _when(f.after, "after"))
    if f.before:
        stmt = stmt.where(Email.created_at < _when(f.before, "before"))
    return stmt


def email_page(session: Session, f: EmailFilter, cursor: str | None) -> EmailPage:
    """A page of the emails `f` names, newest first, after `cursor`."""
    stmt = newest_first(filtered(select(Email), f), Email, cursor, PAGE_SIZE)
    stmt = stmt.options(selectinload(Email.tag_rows))
    emails, next_cursor = page(list(session.scalars(stmt)), PAGE_SIZE)
    if f.to or f.tag or f.batch or f.template or f.request or f.provider:
        size = TAG_WINDOW if f.tag or f.batch else WINDOW
        counts, full = windowed_counts(session, f, size)
        return EmailPage(emails, next_cursor, counts, full)
    return EmailPage(emails, next_cursor, status_counts(session, f))


def windowed_counts(
    session: Session, f: EmailFilter, window: int
) -> tuple[dict[str, int], int | None]:
    """Emails per status among the newest `window` matches of `f` (without its status), and
    the window when it was full (None: the counts are every match)."""
    newest = filtered(select(Email.status), f, with_status=False)
    newest = newest.order_by(Email.created_at.desc(), Email.id.desc()).limit(window)
    inner = newest.subquery()
    rows = session.execute(select(inner.c.status, func.count()).group_by(inner.c.status))
    counts = {s.value: 0 for s in EmailStatus}
    for status, n in rows:
        counts[EmailStatus(status).value] = n
    return counts, window if sum(counts.values()) >= window else None


def status_counts(session: Session, f: EmailFilter) -> dict[str, int]:
    """Emails per status in `f`'s time range, each counted up to COUNT_CAP (one range of the
    (status, created_at) index each)."""
    counts: dict[str, int] = {}
    for status in EmailStatus:
        capped = filtered(select(Email.id), f, with_status=False).where(Email.status == status)
        inner = capped.limit(COUNT_CAP).subquery()
        counts[status.value] = session.scalar(select(func.count()).select_from(inner)) or 0
    return counts
