"""The pipeline's steps for a batch of emails, in a few set-based transactions.

A chain pays about five commits and four broker round-trips per email. A batch pays one
transaction to render and check the attachments of its chunk, then, per group of
`RECORD_EVERY` emails, one transaction to claim the group and one to record what the providers
said (`sent` and `recorded` together), with events and attempts in multi-row INSERTs. The
guarantees are the chain's:

- every row moves with a compare-and-set from the state the step expects, so a redelivered
  batch, or a sweeper's chain for one of its emails, does nothing twice;
- every email is claimed (status `sending`, a claim token) and committed just before its
  group is sent, so a claim's lease covers one group's sends, and its acceptance is recorded
  under that token;
- anything out of the ordinary (a retry, an ambiguous answer, an unexpected error) leaves the
  batch for the per-email code, which owns retries, pinning and the poison budget.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, selectinload

from mailroom import metrics
from mailroom.attachments import attachment_policy
from mailroom.specs import TemplateLoader
from models import Email, EmailEvent, EmailStatus, EventType, SendAttempt, utcnow
from models.db import table_of
from providers.base import OutboundEmail
from providers.failover import FailoverOutcome
from render import RenderError
from tasks import callbacks, email_store, runtime
from tasks.attachments import AttachmentsRefused, build_manifest
from tasks.message import draft
from tasks.pipeline import final_content, record_outcome, rendered_values

log = logging.getLogger(__name__)
# Sends recorded per transaction: bounds what a worker killed mid-batch may send twice (its
# claims expire and are sent again) while keeping commits well below one per email.
RECORD_EVERY = 10
_EVENTS = table_of(EmailEvent)
_EVENT_COLUMNS = ("email_id", "type", "at", "recipient", "provider", "detail")
_EMAILS = table_of(Email)
_ATTEMPTS = table_of(SendAttempt)
_ATTEMPT_COLUMNS = ("email_id", "provider", "outcome", "error_kind", "error", "at", "duration_ms")


class Ready(NamedTuple):
    """A prepared email's message, as stored, without its attachments' bytes (read per send, so
    a chunk's attachments are never all in memory at once)."""

    message: OutboundEmail
    manifest: list[dict[str, Any]]


@dataclass
class Prepared:
    """What the first transaction of a batch produced."""

    # Rendered, attachments checked, ready to be claimed and sent in groups (in id order).
    ready: dict[uuid.UUID, Ready] = field(default_factory=dict)
    # Emails the batch could not take on; each continues as its own chain.
    leftovers: list[uuid.UUID] = field(default_factory=list)


@dataclass
class Recorded:
    """What the batch must still do for emails whose send did not end in one go."""

    # Retry the send after `countdown` seconds (the claim was given back).
    retries: list[tuple[uuid.UUID, float]] = field(default_factory=list)
    # Final, but recorded by the per-email step (failed, or a lost claim).
    to_record: list[uuid.UUID] = field(default_factory=list)


class _Events:
    """Events and status changes gathered for one multi-row INSERT."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows: list[dict[str, Any]] = []

    def add(self, email_id: uuid.UUID, type_: EventType, **values: Any) -> None:
        self.rows.append(
            {
                "email_id": email_id,
                "type": str(type_),
                "detail": values.get("detail"),
                "provider": values.get("provider"),
                "recipient": values.get("recipient"),
                "at": values.get("at") or utcnow(),
            }
        )

    def moved(self, email_id: uuid.UUID, status: EmailStatus, count: bool = True) -> None:
        """A status change: offered to the callback endpoints (same transaction), counted."""
        callbacks.queue_status_change(self.session, email_id, status.value)
        if count:
            metrics.EMAILS.labels(status.value).inc()

    def add_all(self, email_id: uuid.UUID, found: Sequence[tuple[EventType, Any]]) -> None:
        for type_, detail in found:
            self.add(email_id, type_, detail=detail)

    def flush(self) -> None:
        if not self.rows:
            return
        _insert_rows(self.session, _EVENTS, _EVENT_COLUMNS, self.rows, json_column="detail")
        self.rows = []


def _insert_rows(
    session: Session,
    table: Any,
    columns: Sequence[str],
    rows: Sequence[dict[str, Any]],
    json_column: str | None = None,
) -> None:
    """Insert `rows` in the session's transaction: through COPY on PostgreSQL (a batch writes
    six rows per email, and an executemany costs several times more CPU per row: measured in
    the bulk benchmark), an executemany elsewhere."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(table), list(rows))
        return
    from psycopg.types.json import Json

    with (
        connection.connection.driver_connection.cursor() as cursor,  # type: ignore[union-attr]
        cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([Json(row[c]) if c == json_column else row[c] for c in columns])


def prepare(email_ids: Sequence[uuid.UUID]) -> Prepared:
    """Render and check the attachments of every queued email of the batch, in one transaction.

    On PostgreSQL the rows are locked as they are read, so nobody moves them before the commit
    and one executemany writes them all. Elsewhere (SQLite, whose reads take no lock) each row
    moves with its own compare-and-set. Either way a row that a chain or another delivery of
    this batch moved first is left alone.
    """
    prepared = Prepared()
    with runtime.transaction() as session:
        events = _Events(session)
        loader = TemplateLoader(session)
        locked = session.get_bind().dialect.name == "postgresql"
        query = (
            select(Email)
            .where(
                Email.id.in_(email_ids),
                # A rendered email with tries behind it has its own retry chain: not ours.
                (Email.status == EmailStatus.QUEUED)
                | ((Email.status == EmailStatus.RENDERED) & (Email.send_tries == 0)),
            )
            .options(selectinload(Email.tag_rows))
        )
        if locked:
            # In id order, so two deliveries of one batch cannot deadlock.
            query = query.order_by(Email.id).with_for_update(of=Email)
        changes: list[dict[str, Any]] = []
        for email in session.scalars(query).all():
            try:
                values = _prepared_values(session, loader, email, events)
            except DBAPIError:
                raise  # the transaction is gone: the whole chunk retries, or the sweeper steps in
            except Exception:  # noqa: BLE001 - one bad email must not stall the other 99
                log.exception("email %s left the batch for its own chain", email.id)
                prepared.leftovers.append(email.id)
                continue
            if values is None:
                continue
            if not values:
                pass  # already rendered and described (a chain did it): only the send is left
            elif locked:
                changes.append({"b_id": email.id, "updated_at": utcnow(), **values})
                if "status" in values:
                    events.moved(email.id, values["status"])
            elif not email_store.transition(
                session,
                email.id,
                expected=[email.status],
                values=values,
                extra_where=[Email.attachment_manifest.is_(None)]
                if email.attachment_manifest is None
                else [],
            ):
                continue
            events.add_all(email.id, _prepared_events(values))
            # What is sent is what was just stored: a rendered email's content never changes.
            content = {k: values[k] for k in ("subject", "html", "text") if k in values}
            manifest = values.get("attachment_manifest", email.attachment_manifest)
            prepared.ready[email.id] = Ready(draft(email, email.tags, **content), manifest or [])
        _write_rows(session, changes)
        events.flush()
    return prepared


def _write_rows(session: Session, changes: Sequence[dict[str, Any]]) -> None:
    """Each {b_id, column: value...} written to its row: one Core executemany per set of
    columns (the ORM's bulk update by primary key adds per-row bookkeeping)."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        by_columns.setdefault(tuple(sorted(change)), []).append(change)
    statement = update(_EMAILS).where(_EMAILS.c.id == bindparam("b_id"))
    for rows in by_columns.values():
        session.execute(statement, rows)


def _prepared_values(
    session: Session, loader: TemplateLoader, email: Email, events: _Events
) -> dict[str, Any] | None:
    """What preparing `email` writes: its rendered content and its attachment manifest. None
    when it failed instead (the failure is written)."""
    values: dict[str, Any] = {}
    if email.status == EmailStatus.QUEUED:
        try:
            final = final_content(session, email, loader)
        except RenderError as err:
            _fail(session, email, err.message, events)
            return None
        values = rendered_values(email, final)
    if email.attachment_manifest is None and "attachment_manifest" not in values:
        rt = runtime.get()
        try:
            values["attachment_manifest"] = build_manifest(
                rt.storage,
                email.attachment_keys or [],
                rt.settings.max_attachments_bytes,
                attachment_policy(rt.settings),
            )
        except AttachmentsRefused as err:
            _fail(session, email, str(err), events)
            return None
    return values


def _prepared_events(values: dict[str, Any]) -> list[tuple[EventType, Any]]:
    """The events of what `values` did: rendered, and the attachments described."""
    found: list[tuple[EventType, Any]] = []
    if values.get("status") == EmailStatus.RENDERED:
        found.append((EventType.RENDERED, None))
    manifest = values.get("attachment_manifest")
    if manifest is not None:
        detail = {"count": len(manifest), "bytes": sum(m["size"] for m in manifest)}
        found.append((EventType.ATTACHMENTS_READY, detail))
    return found


def claim_group(session: Session, email_ids: Sequence[uuid.UUID]) -> list[email_store.Claim]:
    """rendered -> sending for each email of a group, just before it is sent.

    One conditional UPDATE claims them all (as `email_store.claim_for_send` claims one): an
    email a chain took meanwhile is not claimed. The claims' lease starts now, so a batch needs
    the lease to cover one group's sends, not the whole chunk's.
    """
    now = utcnow()
    token = uuid.uuid4()
    claimable = (
        Email.id.in_(email_ids),
        Email.status == EmailStatus.RENDERED,
        Email.send_tries == 0,
        Email.attachment_manifest.is_not(None),
    )
    # Locked in id order first, as prepare and _held lock theirs: two deliveries of one batch
    # then wait for each other instead of deadlocking (an UPDATE locks in scan order).
    in_order = select(Email.id).where(*claimable).order_by(Email.id).with_for_update()
    claimed = session.execute(
        update(Email)
        .where(Email.id.in_(in_order.scalar_subquery()), *claimable)
        .values(
            status=EmailStatus.SENDING,
            claim_token=token,
            claimed_at=now,
            enqueued_at=now,
            send_tries=Email.send_tries + 1,
            updated_at=now,
        )
        .returning(Email.id, Email.send_tries)
        .execution_options(synchronize_session=False)
    ).all()
    events = _Events(session)
    claims = []
    for email_id, tries in sorted(claimed):
        claims.append(email_store.Claim(email_id, token, tries, reclaimed=False))
        events.add(email_id, EventType.SENDING, detail={"try": tries})
        events.moved(email_id, EmailStatus.SENDING)
    events.flush()
    return claims


def _fail(session: Session, email: Email, reason: str, events: _Events) -> None:
    """Fail the email and write its outcome record, as record_status would."""
    if email_store.fail(session, email.id, reason):
        email_store.transition(
            session,
            email.id,
            expected=[EmailStatus.FAILED],
            values={"recorded_status": EmailStatus.FAILED.value},
        )
        events.add(
            email.id, EventType.RECORDED, detail={"status": "failed", "tries": email.send_tries}
        )


def record(
    session: Session, outcomes: Sequence[tuple[email_store.Claim, FailoverOutcome]], settings: Any
) -> Recorded:
    """Record a group of sends in one transaction: attempts, `sent` and `recorded` in bulk.

    An acceptance is written only under the claim it was sent with; anything else (a retry, a
    rejection, a claim lost to an expired lease) goes through the per-email store functions.
    The caller owns the transaction (and retries it while the database is away).
    """
    result = Recorded()
    events = _Events(session)
    attempts = [
        {
            "email_id": claim.email_id,
            "provider": a.provider,
            "outcome": a.outcome,
            "error_kind": a.kind,
            "error": a.error,
            "at": a.at,
            "duration_ms": round(a.duration_seconds * 1000, 3),
        }
        for claim, outcome in outcomes
        # record_outcome writes the attempts of the others itself
        if outcome.verdict == "sent" and outcome.result
        for a in outcome.attempts
    ]
    _insert_rows(session, _ATTEMPTS, _ATTEMPT_COLUMNS, attempts)
    accepted = {c.email_id: (c, o) for c, o in outcomes if o.verdict == "sent" and o.result}
    held = _held(session, [c for c, _ in accepted.values()])
    now = utcnow()
    changes: list[dict[str, Any]] = []
    for email_id, (claim, outcome) in accepted.items():
        if email_id not in held:
            result.to_record.append(email_id)
            continue
        assert outcome.result is not None
        changes.append(
            {
                "b_id": email_id,
                "b_provider": outcome.result.provider,
                "b_message_id": outcome.result.message_id,
            }
        )
        _sent_events(events, claim, outcome, now)
    _write_sent(session, changes, now)
    for claim, outcome in outcomes:
        if claim.email_id in accepted and claim.email_id in held:
            continue
        if claim.email_id in accepted:
            # The claim expired and another worker took the row: a second copy went out.
            assert outcome.result is not None
            email_store.mark_sent(
                session,
                claim,
                provider=outcome.result.provider,
                provider_message_id=outcome.result.message_id,
                rejected=dict(outcome.result.rejected),
            )
            continue
        countdown = record_outcome(session, claim, outcome, settings)
        if countdown is None:
            result.to_record.append(claim.email_id)
        else:
            result.retries.append((claim.email_id, countdown))
    events.flush()
    return result


def _held(session: Session, claims: Sequence[email_store.Claim]) -> set[uuid.UUID]:
    """The emails still `sending` under our claim, locked for the rest of the transaction."""
    if not claims:
        return set()
    tokens = {c.email_id: c.token for c in claims}
    rows = session.execute(
        select(Email.id, Email.claim_token)
        .where(Email.id.in_(list(tokens)), Email.status == EmailStatus.SENDING)
        .order_by(Email.id)
        .with_for_update(of=Email)
    )
    return {row.id for row in rows if row.claim_token == tokens[row.id]}


def _write_sent(session: Session, changes: Sequence[dict[str, Any]], now: datetime) -> None:
    """Move the accepted emails to `sent`: one UPDATE joined with arrays on PostgreSQL, where an
    executemany pays the statement once per row (the rows are locked by `_held`, in id order,
    so the order this UPDATE takes them in cannot deadlock); an executemany elsewhere."""
    if not changes:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(_mark_sent(now), changes)
        return
    session.execute(
        _MARK_SENT_ARRAYS,
        {
            "ids": [c["b_id"] for c in changes],
            "providers": [c["b_provider"] for c in changes],
            "message_ids": [c["b_message_id"] for c in changes],
            "sent": EmailStatus.SENT.value,
            "now": now,
        },
    )


_MARK_SENT_ARRAYS = text(
    "UPDATE emails SET status = :sent, provider = v.provider, "
    "provider_message_id = v.message_id, claim_token = NULL, pinned_provider = NULL, "
    "last_error = NULL, recorded_status = :sent, updated_at = :now "
    "FROM unnest(CAST(:ids AS uuid[]), CAST(:providers AS varchar[]), "
    "CAST(:message_ids AS varchar[])) AS v(id, provider, message_id) "
    "WHERE emails.id = v.id"
)


def _mark_sent(now: datetime) -> Any:
    """sending -> sent and recorded, for an executemany of {b_id, b_provider, b_message_id}
    (the rows are locked by `_held`). Core: the ORM's bulk update adds per-row bookkeeping."""
    return (
        update(_EMAILS)
        .where(_EMAILS.c.id == bindparam("b_id"))
        .values(
            status=EmailStatus.SENT,
            provider=bindparam("b_provider"),
            provider_message_id=bindparam("b_message_id"),
            claim_token=None,
            pinned_provider=None,
            last_error=None,
            recorded_status=EmailStatus.SENT.value,
            updated_at=now,
        )
    )


def _sent_events(
    events: _Events, claim: email_store.Claim, outcome: FailoverOutcome, now: datetime
) -> None:
    assert outcome.result is not None
    provider = outcome.result.provider
    events.add(
        claim.email_id,
        EventType.SENT,
        provider=provider,
        detail={"providerMessageId": outcome.result.message_id},
        at=now,
    )
    for address, reason in dict(outcome.result.rejected).items():
        events.add(
            claim.email_id,
            EventType.RECIPIENT_REJECTED,
            recipient=address,
            provider=provider,
            detail=reason,
            at=now,
        )
    events.add(
        claim.email_id,
        EventType.RECORDED,
        provider=provider,
        detail={"status": "sent", "tries": claim.tries},
        at=now,
    )
    events.moved(claim.email_id, EmailStatus.SENT)
