"""Turning a validated send request into stored rows (for the API, the CLI and list sends)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    Dialect,
    Text,
    TextClause,
    bindparam,
    cast,
    insert,
    literal,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from models import (
    Email,
    EmailRecipient,
    EmailStatus,
    EmailTag,
    EventType,
    SenderSignature,
    Suppression,
    utcnow,
)
from models.db import table_of
from models.email_event import EmailEvent
from render import Rendered


@lru_cache(maxsize=4096)  # parseaddr is slow, and a batch asks about each address four times
def bare_address(formatted: str) -> str:
    """The address part of `Name <addr>`, lower-cased for search."""
    return parseaddr(formatted)[1].lower()


def message_id_for(email_id: uuid.UUID, from_addr: str) -> str:
    """A Message-ID fixed at acceptance, so every attempt on every provider carries the same."""
    domain = bare_address(from_addr).rpartition("@")[2] or "mailroom.invalid"
    return f"<{email_id}@{domain}>"


class Lookups:
    """The suppression list and sender signatures as one batch of emails needs them: one query
    for both, whatever the batch's size (one per email would also flush the session each time,
    and a single send would pay a round-trip for each)."""

    def __init__(self, session: Session, requests: Iterable[dict[str, Any]]) -> None:
        requests = list(requests)
        wanted = {
            bare_address(a) for r in requests for k in ("to", "cc", "bcc") for a in r.get(k) or []
        }
        senders = {r["from_addr"] for r in requests if r.get("signature", True)}
        found = _lookup(session, wanted, {bare_address(s) for s in senders})
        self.suppressed = {address for kind, address, _, _ in found if kind == "suppressed"}
        signatures = {address: (html, text) for kind, address, html, text in found if kind == "sig"}
        self.signatures = {s: signatures.get(bare_address(s), (None, None)) for s in senders}


def _lookup_statements() -> dict[tuple[bool, bool], Any]:
    """The lookup's three shapes, built once: Core on the tables (no ORM compile step), with
    expanding parameters, so each execution reuses the statement's cache key and compilation."""
    suppressions, signatures = table_of(Suppression), table_of(SenderSignature)
    suppressed = select(
        literal("suppressed").label("kind"),
        suppressions.c.address.label("address"),
        cast(null(), Text).label("html"),
        cast(null(), Text).label("text"),
    ).where(suppressions.c.address.in_(bindparam("recipients", expanding=True)))
    signed = select(
        literal("sig").label("kind"),
        signatures.c.address.label("address"),
        signatures.c.html.label("html"),
        signatures.c.text.label("text"),
    ).where(signatures.c.address.in_(bindparam("senders", expanding=True)))
    return {
        (True, False): suppressed,
        (False, True): signed,
        (True, True): union_all(suppressed, signed),
    }


_LOOKUPS = _lookup_statements()


def _lookup(
    session: Session, recipients: set[str], senders: set[str]
) -> list[tuple[str, str, str | None, str | None]]:
    """(kind, address, html, text) rows: `suppressed` for each suppressed recipient, `sig` for
    each sender with a stored signature."""
    if not recipients and not senders:
        return []
    query = _LOOKUPS[(bool(recipients), bool(senders))]
    params = {"recipients": sorted(recipients), "senders": sorted(senders)}
    return [(row[0], row[1], row[2], row[3]) for row in session.execute(query, params)]


@dataclass
class EmailRows:
    """One email's rows, as plain column values: for the ORM or for a multi-row INSERT."""

    email: dict[str, Any]
    recipients: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    events: list[dict[str, Any]]

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(str(self.email["id"]))

    @property
    def status(self) -> EmailStatus:
        return EmailStatus(self.email["status"])


def create_emails(
    session: Session,
    requests: Sequence[tuple[dict[str, Any], Rendered]],
    *,
    correlation_id: str | None = None,
    email_ids: Sequence[uuid.UUID] | None = None,
) -> list[EmailRows]:
    """Many emails at once: two lookups in all, then one multi-row INSERT per table.

    The rows are exactly `create_email`'s; only the ORM's per-object bookkeeping is skipped,
    which is most of the cost of accepting a batch of a thousand.
    """
    lookups = Lookups(session, (request for request, _ in requests))
    built = [
        email_rows(
            request,
            rendered,
            lookups,
            correlation_id=correlation_id,
            email_id=email_ids[n] if email_ids else None,
        )
        for n, (request, rendered) in enumerate(requests)
    ]
    if len(built) == 1 and built[0].events and session.get_bind().dialect.name == "postgresql":
        _insert_one(session, built[0])
        return built
    for model, rows in (
        (Email, [b.email for b in built]),
        (EmailRecipient, [r for b in built for r in b.recipients]),
        (EmailTag, [t for b in built for t in b.tags]),
        (EmailEvent, [e for b in built for e in b.events]),
    ):
        if rows:
            # Core, on the table: the ORM's bulk insert adds bookkeeping nobody reads back.
            session.execute(insert(table_of(model)), rows)
    return built


def _insert_one(session: Session, rows: EmailRows) -> None:
    """One email's rows in one statement (PostgreSQL): a round-trip instead of four.

    The email, recipient and tag INSERTs are data-modifying CTEs of the events' INSERT; the
    foreign keys are checked at the end of the statement, when every row is there. Being a
    text statement it applies no Python-side column defaults: `email_rows` gives every column
    that has one (a test holds it to that), and every row of a table the same columns.
    """
    groups = [
        ("e", Email, [rows.email]),
        ("r", EmailRecipient, rows.recipients),
        ("t", EmailTag, rows.tags),
        ("v", EmailEvent, rows.events),
    ]
    for name, _, group in groups:
        if any(row.keys() != group[0].keys() for row in group):
            raise ValueError(f"rows of group {name!r} differ in their columns")
    shape = tuple((name, len(group), tuple(group[0]) if group else ()) for name, _, group in groups)
    params = {
        f"{name}{n}_{column}": value
        for name, _, group in groups
        for n, row in enumerate(group)
        for column, value in row.items()
    }
    session.execute(_one_email_statement(shape, session.get_bind().dialect), params)


@lru_cache(maxsize=256)
def _one_email_statement(
    shape: tuple[tuple[str, int, tuple[str, ...]], ...], dialect: Dialect
) -> TextClause:
    """The statement `_insert_one` runs for rows of this shape (group name, row count, columns),
    built once per shape. A text statement with the columns' types on its parameters: SQLAlchemy
    caches it (it does not cache a multi-row `insert().values()`), and the types convert each
    value exactly as the table's INSERT would."""
    quote = dialect.identifier_preparer.quote
    models = {"e": Email, "r": EmailRecipient, "t": EmailTag, "v": EmailEvent}
    statements: list[str] = []
    binds: list[BindParameter[Any]] = []
    for name, count, columns in shape:
        if not count:
            continue
        table = table_of(models[name])
        values = []
        for n in range(count):
            names = [f"{name}{n}_{column}" for column in columns]
            binds.extend(
                bindparam(bind, type_=table.c[column].type)
                for bind, column in zip(names, columns, strict=True)
            )
            values.append("(" + ", ".join(f":{bind}" for bind in names) + ")")
        statements.append(
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES {', '.join(values)}"
        )
    *first, last = statements
    ctes = ", ".join(f"new_{n} AS ({sql})" for n, sql in enumerate(first))
    return text(f"WITH {ctes} {last}" if ctes else last).bindparams(*binds)


def create_email(
    session: Session,
    request: dict[str, Any],
    rendered: Rendered,
    *,
    correlation_id: str | None = None,
    email_id: uuid.UUID | None = None,
) -> Email:
    """Insert the email, its recipients, tags and first events (not committed).

    Returns the email as a transient object to read from: the rows are written with plain
    INSERTs, as `create_emails` writes them. `email_id` is for a caller that names things
    after the email before it exists (uploads).
    """
    built = create_emails(
        session,
        [(request, rendered)],
        correlation_id=correlation_id,
        email_ids=[email_id] if email_id else None,
    )[0]
    return Email(**built.email)


def email_rows(
    request: dict[str, Any],
    rendered: Rendered,
    lookups: Lookups,
    *,
    correlation_id: str | None = None,
    email_id: uuid.UUID | None = None,
) -> EmailRows:
    """The rows of one accepted email: suppressed recipients, signature, status, first events."""
    email_id = email_id or uuid.uuid4()
    now = utcnow()
    send_at: datetime | None = request.get("send_at")
    scheduled = send_at is not None and send_at > now
    lists = {kind: list(request.get(kind) or []) for kind in ("to", "cc", "bcc")}
    blocked = {bare_address(a) for v in lists.values() for a in v} & lookups.suppressed
    kept = {k: [a for a in v if bare_address(a) not in blocked] for k, v in lists.items()}
    # Every recipient suppressed: the email ends here, keeping its recipients for the record.
    everyone_blocked = not any(kept.values())
    if not everyone_blocked:
        lists = kept
    # Every sending endpoint signs unless the request says `"signature": false`.
    sig_html, sig_text = (
        lookups.signatures[request["from_addr"]] if request.get("signature", True) else (None, None)
    )
    status = EmailStatus.SCHEDULED if scheduled else EmailStatus.QUEUED
    if everyone_blocked:
        status = EmailStatus.SUPPRESSED
    email = {
        "id": email_id,
        "status": status,
        "from_addr": request["from_addr"],
        "to_addrs": lists["to"],
        "cc_addrs": lists["cc"],
        "bcc_addrs": lists["bcc"],
        "reply_to": request.get("reply_to"),
        "subject": rendered.subject,
        "html": rendered.html,
        "text": rendered.text,
        "template_id": request.get("template_id"),
        "template_version": request.get("template_version"),
        "brand_id": request.get("brand_id"),
        "lang": request.get("lang"),
        "variables": request.get("variables", {}),
        "attachment_keys": request.get("attachments", []),
        "headers": request.get("headers", {}),
        "brand_styles": bool(request.get("brand_styles")),
        "custom_style": request.get("custom_style"),
        "signature_html": sig_html,
        "signature_text": sig_text,
        "message_id": message_id_for(email_id, request["from_addr"]),
        "correlation_id": correlation_id,
        "send_at": send_at,
        "enqueued_at": None if scheduled or everyone_blocked else now,
        "send_tries": 0,
        "created_at": now,
        "updated_at": now,
    }
    recipients: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for kind in ("to", "cc", "bcc"):
        for formatted in request.get(kind, []):
            pair = (bare_address(formatted), kind)
            if pair not in seen:
                seen.add(pair)
                recipients.append({"email_id": email_id, "address": pair[0], "kind": kind})
    tags = [
        {"email_id": email_id, "tag": tag, "position": position}
        for position, tag in enumerate(dict.fromkeys(request.get("tags", [])))
    ]
    accepted = {"scheduledFor": send_at.isoformat()} if scheduled and send_at else None
    events = [_event(email_id, EventType.ACCEPTED, now, accepted)]
    events.extend(
        _event(
            email_id,
            EventType.SUPPRESSED,
            now,
            "on the suppression list: not sent to this recipient",
            recipient=address,
        )
        for address in sorted(blocked)
    )
    return EmailRows(email, recipients, tags, events)


def _event(
    email_id: uuid.UUID, type_: EventType, at: datetime, detail: Any, recipient: str | None = None
) -> dict[str, Any]:
    return {
        "email_id": email_id,
        "type": str(type_),
        "at": at,
        "detail": detail,
        "recipient": recipient,
        "provider": None,
    }
