"""The pipeline's steps for a batch of emails, in a few set-based transactions.

A chain pays about five commits and four broker round-trips per email. A batch pays one
transaction to render, check attachments and claim all its emails, then one transaction per
`RECORD_EVERY` sends to record what the providers said (`sent` and `recorded` together), with
every event and attempt written in one multi-row INSERT. The guarantees are the chain's:

- rows are locked (`FOR UPDATE SKIP LOCKED` on PostgreSQL) while a step changes them, and only
  a row in the step's expected state is touched, so a redelivered batch, or a sweeper's chain
  for one of its emails, does nothing twice;
- every email is claimed (status `sending`, a claim token) and committed before any provider
  is called, and its acceptance is recorded under that token;
- anything out of the ordinary (a retry, an ambiguous answer, an unexpected error) leaves the
  batch for the per-email code, which owns retries, pinning and the poison budget.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, selectinload

from mailroom import metrics
from mailroom.attachments import attachment_policy
from mailroom.specs import TemplateLoader, load_brand
from models import Email, EmailEvent, EmailStatus, EventType, SendAttempt, utcnow
from providers.base import OutboundEmail
from providers.failover import FailoverOutcome
from render import Rendered, RenderError, finalize, render_template
from tasks import callbacks, email_store, runtime
from tasks.attachments import AttachmentsRefused, build_manifest
from tasks.message import build_outbound
from tasks.pipeline import record_outcome

log = logging.getLogger(__name__)
# Sends recorded per transaction: bounds what a worker killed mid-batch may send twice (its
# claims expire and are sent again) while keeping commits well below one per email.
RECORD_EVERY = 10


@dataclass
class Prepared:
    """What the first transaction of a batch produced."""

    # Claimed emails ready to send: (claim, message).
    ready: list[tuple[email_store.Claim, OutboundEmail]] = field(default_factory=list)
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
        self.statuses: dict[str, int] = {}

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

    def moved(self, email_id: uuid.UUID, status: EmailStatus) -> None:
        """A status change: counted, and offered to the callback endpoints (same transaction)."""
        self.statuses[status.value] = self.statuses.get(status.value, 0) + 1
        callbacks.queue_status_change(self.session, email_id, status.value)

    def flush(self) -> None:
        if self.rows:
            self.session.execute(insert(EmailEvent), self.rows)
        for status, count in self.statuses.items():
            metrics.EMAILS.labels(status).inc(count)


def _locked(session: Session, email_ids: Sequence[uuid.UUID], *extra: Any) -> list[Email]:
    """The batch's rows in the given states, locked until commit; rows another transaction
    holds are skipped (their chain or sweep is working on them)."""
    stmt = (
        select(Email)
        .where(Email.id.in_(email_ids), *extra)
        .options(selectinload(Email.tag_rows))
        .with_for_update(skip_locked=True, of=Email)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def prepare(email_ids: Sequence[uuid.UUID]) -> Prepared:
    """Render, check attachments and claim every email of the batch in one transaction."""
    rt = runtime.get()
    prepared = Prepared()
    now = utcnow()
    with runtime.transaction() as session:
        events = _Events(session)
        loader = TemplateLoader(session)
        rows = _locked(
            session,
            email_ids,
            # A rendered email with tries behind it has its own retry chain: not ours.
            (Email.status == EmailStatus.QUEUED)
            | ((Email.status == EmailStatus.RENDERED) & (Email.send_tries == 0)),
        )
        for email in rows:
            try:
                if email.status == EmailStatus.QUEUED and not _render(
                    session, loader, email, events
                ):
                    continue
                if email.attachment_manifest is None and not _check_attachments(email, events):
                    continue
            except Exception:  # noqa: BLE001 - one bad email must not stall the other 99
                log.exception("email %s left the batch for its own chain", email.id)
                prepared.leftovers.append(email.id)
                continue
            try:
                message = build_outbound(email, rt.storage)
            except Exception:  # noqa: BLE001 - e.g. storage down: the email's own chain retries
                log.exception("email %s left the batch for its own chain", email.id)
                prepared.leftovers.append(email.id)
                continue
            prepared.ready.append((_claim(email, now, events), message))
        session.flush()
        events.flush()
    return prepared


def _claim(email: Email, now: datetime, events: _Events) -> email_store.Claim:
    """rendered -> sending under a new token, as `email_store.claim_for_send` does."""
    token = uuid.uuid4()
    email.status = EmailStatus.SENDING
    email.claim_token = token
    email.claimed_at = now
    email.enqueued_at = now
    email.send_tries = email.send_tries + 1
    email.updated_at = now
    events.add(email.id, EventType.SENDING, detail={"try": email.send_tries})
    events.moved(email.id, EmailStatus.SENDING)
    return email_store.Claim(email.id, token, email.send_tries, reclaimed=False)


def _render(session: Session, loader: TemplateLoader, email: Email, events: _Events) -> bool:
    """queued -> rendered in memory; False when the email failed instead."""
    try:
        content = Rendered(subject=email.subject, html=email.html, text=email.text)
        if email.html is None and email.template_id is not None:
            spec = loader.spec(str(email.template_id))
            if spec is None:
                raise RenderError(f"Template `{email.template_id}` not found")
            content = render_template(
                spec, email.variables or {}, lang=email.lang, lookup=loader.spec
            )
        final = finalize(
            content,
            brand=load_brand(session, email.brand_id) if email.brand_styles else None,
            brand_styles=email.brand_styles,
            custom_style=email.custom_style,
            signature=(email.signature_html, email.signature_text),
        )
    except RenderError as err:
        _fail(email, err.message, events)
        return False
    email.subject, email.html, email.text = final.subject, final.html, final.text
    email.status = EmailStatus.RENDERED
    events.add(email.id, EventType.RENDERED)
    events.moved(email.id, EmailStatus.RENDERED)
    return True


def _check_attachments(email: Email, events: _Events) -> bool:
    """The attachment manifest, as fetch_attachments builds it; False when refused."""
    rt = runtime.get()
    try:
        manifest = build_manifest(
            rt.storage,
            email.attachment_keys or [],
            rt.settings.max_attachments_bytes,
            attachment_policy(rt.settings),
        )
    except AttachmentsRefused as err:
        _fail(email, str(err), events)
        return False
    email.attachment_manifest = manifest
    detail = {"count": len(manifest), "bytes": sum(m["size"] for m in manifest)}
    events.add(email.id, EventType.ATTACHMENTS_READY, detail=detail)
    return True


def _fail(email: Email, reason: str, events: _Events) -> None:
    email.status = EmailStatus.FAILED
    email.last_error = reason
    email.claim_token = None
    email.recorded_status = EmailStatus.FAILED.value
    events.add(email.id, EventType.FAILED, detail=reason)
    events.add(email.id, EventType.RECORDED, detail={"status": "failed", "tries": email.send_tries})
    events.moved(email.id, EmailStatus.FAILED)


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
        for a in outcome.attempts
    ]
    if attempts:
        session.execute(insert(SendAttempt), attempts)
    accepted = {c.email_id: (c, o) for c, o in outcomes if o.verdict == "sent" and o.result}
    held = _held(session, [c for c, _ in accepted.values()])
    now = utcnow()
    changes: list[dict[str, Any]] = []
    for email_id, (claim, outcome) in accepted.items():
        if email_id not in held:
            result.to_record.append(email_id)
            continue
        assert outcome.result is not None
        changes.append(_sent_values(email_id, outcome, now))
        _sent_events(events, claim, outcome, now)
    if changes:
        session.execute(update(Email), changes)
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
        .with_for_update(of=Email)
    )
    return {row.id for row in rows if row.claim_token == tokens[row.id]}


def _sent_values(email_id: uuid.UUID, outcome: FailoverOutcome, now: datetime) -> dict[str, Any]:
    assert outcome.result is not None
    return {
        "id": email_id,
        "status": EmailStatus.SENT,
        "provider": outcome.result.provider,
        "provider_message_id": outcome.result.message_id,
        "claim_token": None,
        "pinned_provider": None,
        "last_error": None,
        "recorded_status": EmailStatus.SENT.value,
        "updated_at": now,
    }


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
