"""The per-email chain: render → fetch_attachments → send → record_status.

Each task takes the email id only, claims its row with a conditional UPDATE before working and
writes its event in the same transaction, so a redelivered or duplicated task does nothing twice.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from celery import Task, chain
from kombu.exceptions import KombuError
from sqlalchemy import Row, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from mailroom import logs, metrics
from mailroom.attachments import attachment_policy
from mailroom.specs import TemplateLoader, load_brand
from models import Email, EmailStatus, EventType, utcnow
from models.db import table_of
from providers.failover import FailoverOutcome
from render import Rendered, RenderError, finalize, render_template
from storage import StorageError
from tasks import email_store, runtime
from tasks.app import celery_app
from tasks.attachments import AttachmentsRefused, build_manifest
from tasks.message import StoredEmail, build_outbound, email_columns, load_message

log = logging.getLogger(__name__)
T = TypeVar("T")


class PublishError(Exception):
    """The broker did not take the chain; the emails stay in the database for the sweeper.

    `unpublished` are the emails whose messages the broker may not have: the one being
    published when it failed and those after it. Those before it were confirmed.
    """

    def __init__(self, message: str, unpublished: Iterable[uuid.UUID | str]) -> None:
        super().__init__(message)
        self.unpublished = [uuid.UUID(str(eid)) for eid in unpublished]


class PipelineTask(Task):  # type: ignore[misc]
    """Retries unexpected errors with backoff, then fails the email instead of stranding it."""

    autoretry_for = (Exception,)
    max_retries = 4
    retry_backoff = 2
    retry_backoff_max = 120
    retry_jitter = True
    acks_late = True
    reject_on_worker_lost = True

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        """Celery drops custom headers on retry; carry the correlation id over."""
        cid = getattr(self.request, logs.CORRELATION_HEADER, None)
        if cid:
            kwargs.setdefault("headers", {logs.CORRELATION_HEADER: cid})
        return super().retry(*args, **kwargs)

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """The retry budget is spent: the email ends `failed` with the reason.

        Unless the broker itself is what failed (the next publish or the retry could not be
        sent): the email is fine, so it stays in flight and the sweeper re-publishes it.
        """
        email_id = uuid.UUID(str(args[0]))
        if isinstance(exc, KombuError | OSError):
            log.warning(
                "broker unavailable in %s for email %s; left for the sweeper: %r",
                self.name,
                email_id,
                exc,
            )
            return
        log.error("task %s gave up on email %s: %r", self.name, email_id, exc)
        try:
            with runtime.transaction() as session:
                email_store.fail(session, email_id, f"{self.name} failed: {exc!r}"[:2000])
        except DBAPIError:
            log.exception("could not mark email %s failed; the sweeper will retry it", email_id)


def _task(name: str) -> Callable[[Callable[..., T]], Any]:
    return celery_app.task(name=name, base=PipelineTask, bind=True)  # type: ignore[no-any-return]


@_task("mailroom.render")
def render(self: Task, email_id: str) -> None:
    """Finish the content the API rendered: brand wrapping, CSS inlining, the text part."""
    render_step(uuid.UUID(email_id))


def render_step(eid: uuid.UUID) -> None:
    """queued -> rendered. A batch's template email arrives unrendered (no html): render it."""
    with runtime.transaction() as session:
        email = _load_for_render(session, eid)
        if email is not None and email.status == EmailStatus.SCHEDULED:
            # Published with an eta for its time; the sweeper also releases it if this is lost.
            if email.send_at is None or email.send_at > utcnow():
                return
            if email_store.release_scheduled(session, eid):
                email = _load_for_render(session, eid)
        if email is None or email.status != EmailStatus.QUEUED:
            return
        started = time.perf_counter()
        try:
            final = final_content(session, email, TemplateLoader(session))
        except RenderError as err:
            email_store.fail(session, eid, err.message)
            return
        metrics.RENDER_SECONDS.labels("worker").observe(time.perf_counter() - started)
        values = rendered_values(email, final)
        if email_store.transition(session, eid, expected=[EmailStatus.QUEUED], values=values):
            email_store.add_event(session, eid, EventType.RENDERED)
            if "attachment_manifest" in values:
                email_store.add_event(
                    session, eid, EventType.ATTACHMENTS_READY, detail={"count": 0, "bytes": 0}
                )


_EMAILS = table_of(Email)
# What rendering reads: the content and what finishes it, not the addresses or the history.
_RENDER_COLUMNS = email_columns(
    "status", "send_at", "subject", "html", "text", "template_id", "variables", "lang",
    "brand_styles", "brand_id", "custom_style", "signature_html", "signature_text",
    "attachment_keys", "attachment_manifest",
)  # fmt: skip


def _load_for_render(session: Session, eid: uuid.UUID) -> Row[Any] | None:
    """The columns rendering needs, as a Core row (an ORM load of the whole email cost more
    than the rest of the step)."""
    return (
        session.connection()
        .execute(select(*_RENDER_COLUMNS).where(_EMAILS.c.id == eid))
        .one_or_none()
    )


def rendered_values(email: StoredEmail, final: Rendered) -> dict[str, Any]:
    """What queued -> rendered writes: the content where rendering changed it, and, with
    nothing to attach, the (empty) attachment manifest, known now, so that fetch_attachments
    has nothing to write."""
    values: dict[str, Any] = {"status": EmailStatus.RENDERED}
    # Only what rendering changed: inline content often comes back as the API stored it, and
    # rewriting kilobytes of unchanged html and text costs the database a new row version's
    # worth of WAL for nothing.
    for column, value in (("subject", final.subject), ("html", final.html), ("text", final.text)):
        if getattr(email, column) != value:
            values[column] = value
    if not email.attachment_keys and email.attachment_manifest is None:
        values["attachment_manifest"] = []
    return values


def final_content(session: Session, email: StoredEmail, loader: TemplateLoader) -> Rendered:
    """The email's content as it will be sent: rendered (a batch's template emails arrive
    unrendered), wrapped in its brand, styles inlined, signed, with its text part."""
    content = Rendered(subject=email.subject, html=email.html, text=email.text)
    if email.html is None and email.template_id is not None:
        spec = loader.spec(str(email.template_id))
        if spec is None:
            raise RenderError(f"Template `{email.template_id}` not found")
        content = render_template(spec, email.variables or {}, lang=email.lang, lookup=loader.spec)
    return finalize(
        content,
        brand=load_brand(session, email.brand_id) if email.brand_styles else None,
        brand_styles=email.brand_styles,
        custom_style=email.custom_style,
        signature=(email.signature_html, email.signature_text),
    )


@_task("mailroom.fetch_attachments")
def fetch_attachments(self: Task, email_id: str) -> None:
    """Check every attachment exists and fits the size limit; record what will be attached."""
    fetch_step(uuid.UUID(email_id))


def fetch_step(eid: uuid.UUID) -> None:
    """Describe the attachments (sniffed, checked, sized) once, before any send."""
    rt = runtime.get()
    with runtime.transaction() as session:
        email = session.execute(
            select(Email.status, Email.attachment_keys, Email.attachment_manifest).where(
                Email.id == eid
            )
        ).one_or_none()
        if email is None or email.status != EmailStatus.RENDERED:
            return
        if email.attachment_manifest is not None:
            return
        try:
            manifest = build_manifest(
                rt.storage,
                email.attachment_keys or [],
                rt.settings.max_attachments_bytes,
                attachment_policy(rt.settings),
            )
        except AttachmentsRefused as err:
            email_store.fail(session, eid, str(err))
            return
        changed = session.execute(
            update(Email)
            .where(Email.id == eid, Email.attachment_manifest.is_(None))
            .values(attachment_manifest=manifest, updated_at=utcnow())
        )
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            email_store.add_event(
                session,
                eid,
                EventType.ATTACHMENTS_READY,
                detail={"count": len(manifest), "bytes": sum(m["size"] for m in manifest)},
            )


def _backoff(tries: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: spreads retries of many emails after one outage."""
    delay = min(cap, base * 2 ** max(0, tries - 1))
    return random.uniform(delay / 2, delay)


def with_db_retries(work: Callable[[Session], T], *, attempts: int = 8) -> T:
    """Run `work` in a transaction, retrying while the database is unreachable.

    Used once a provider has accepted the message: failing to record that would turn a crash
    into a duplicate send, so it is worth waiting for the database to come back.
    """
    for n in range(attempts):
        try:
            with runtime.transaction() as session:
                return work(session)
        except OperationalError:
            if n == attempts - 1:
                raise
            log.warning("database unavailable while recording a send; retrying", exc_info=True)
            time.sleep(min(8.0, 0.25 * 2**n))
    raise AssertionError("unreachable")


@_task("mailroom.send")
def send(self: Task, email_id: str) -> None:
    """Claim the email, walk the providers in order, record every attempt and the outcome."""
    countdown = send_step(uuid.UUID(email_id))
    if countdown is not None:
        # The budget is MAILROOM_SEND_MAX_RETRIES, counted in the row (claim.tries) so it
        # survives sweeps; Celery's own count must not stop it first (None would mean the
        # task's default of 4, not "unlimited").
        budget = runtime.get().settings.send_max_retries + 2
        raise self.retry(countdown=countdown, max_retries=budget)


def send_step(eid: uuid.UUID) -> float | None:
    """One send try; the countdown to the next try when no provider took it, else None."""
    rt = runtime.get()
    with runtime.transaction() as session:
        claim = email_store.claim_for_send(session, eid, rt.lease)
        if claim is None:
            return None
        # Read in the claim's transaction: one connection and commit fewer per email.
        loaded = load_message(session, eid)
        assert loaded is not None, "a claimed email exists"
        email, tags = loaded
    try:
        message = build_outbound(email, tags, rt.storage)
        pinned = email.pinned_provider
    except (StorageError, DBAPIError) as err:
        # Nothing reached a provider: give the claim back and let the retry take it again.
        with runtime.transaction() as session:
            email_store.release_claim(session, claim, retry_at=utcnow(), reason=repr(err))
        raise
    if pinned is not None and pinned not in {p.name for p in rt.sender.providers}:
        # The provider that may hold this message was removed from EMAIL_PROVIDERS: the
        # operator chose to stop using it, so walk the others and say a copy may exist.
        with runtime.transaction() as session:
            email_store.add_event(
                session,
                eid,
                EventType.UNPINNED,
                provider=pinned,
                detail="the provider of an earlier ambiguous attempt is no longer configured; "
                "sending through the others may deliver a second copy",
            )
        pinned = None
    outcome = rt.sender.send(message, only=pinned)
    countdown = with_db_retries(lambda s: record_outcome(s, claim, outcome, rt.settings))
    metrics.record_attempts(outcome.attempts)
    provider = outcome.result.provider if outcome.result else outcome.ambiguous_provider
    log.info(
        "send %s after %d attempt(s)",
        outcome.verdict,
        len(outcome.attempts),
        extra={"provider": provider, "verdict": outcome.verdict},
    )
    return countdown


def record_outcome(
    session: Session, claim: email_store.Claim, outcome: FailoverOutcome, settings: Any
) -> float | None:
    """Write the attempts and the verdict; the countdown to a retry, or None when done."""
    email_store.record_attempts(session, claim.email_id, outcome.attempts)
    if outcome.verdict == "sent" and outcome.result is not None:
        email_store.mark_sent(
            session,
            claim,
            provider=outcome.result.provider,
            provider_message_id=outcome.result.message_id,
            rejected=dict(outcome.result.rejected),
        )
        return None
    reason = outcome.error or "every provider failed"
    if outcome.verdict == "rejected":
        email_store.fail(session, claim.email_id, reason)
        return None
    if claim.tries > settings.send_max_retries:
        email_store.fail(session, claim.email_id, f"gave up after {claim.tries} tries: {reason}")
        return None
    countdown = _backoff(
        claim.tries, settings.retry_backoff_seconds, settings.retry_backoff_max_seconds
    )
    retry_at = utcnow() + timedelta(seconds=countdown)
    ambiguous = outcome.verdict == "ambiguous"
    email_store.release_claim(
        session,
        claim,
        retry_at=retry_at,
        pinned_provider=outcome.ambiguous_provider if ambiguous else None,
        reason=reason,
    )
    email_store.add_event(
        session,
        claim.email_id,
        EventType.AMBIGUOUS if ambiguous else EventType.RETRY,
        provider=outcome.ambiguous_provider,
        detail={"reason": reason, "retryAt": retry_at.isoformat(), "try": claim.tries},
    )
    return countdown


@_task("mailroom.record_status")
def record_status(self: Task, email_id: str) -> None:
    """Write the outcome record once per final status (the hook for callbacks and metrics)."""
    record_step(uuid.UUID(email_id))


def record_step(eid: uuid.UUID) -> None:
    """The `recorded` event, once per final status."""
    with runtime.transaction() as session:
        row = email_store.mark_recorded(session, eid)
        if row is None:
            return
        email_store.add_event(
            session,
            eid,
            EventType.RECORDED,
            provider=row.provider,
            detail={"status": row.status.value, "tries": row.send_tries},
        )
    log.info("email %s recorded as %s", eid, row.status.value)


def email_chain(email_id: uuid.UUID | str) -> Any:
    """The chain of the four pipeline tasks for one email (for inspection and tests)."""
    eid = str(email_id)
    return chain(render.si(eid), fetch_attachments.si(eid), send.si(eid), record_status.si(eid))


def enqueue(
    email_ids: Iterable[uuid.UUID | str],
    correlation: Mapping[str, str | None] | None = None,
    eta: datetime | None = None,
) -> None:
    """Publish one chain per email, after their rows are committed, over one producer.

    The chain travels inside the first task's message (Celery's protocol 2 `chain` option), so
    publishing an email is one broker round-trip, confirmed by the broker on AMQP. Each task
    message carries the email's correlation id as a header, for the logs. A broker failure
    raises `PublishError`; the rows stay in the database for the sweeper.
    """
    ids = [str(eid) for eid in email_ids]
    done = 0
    try:
        with celery_app.producer_or_acquire() as producer:
            for eid in ids:
                cid = (correlation or {}).get(eid)
                headers = {logs.CORRELATION_HEADER: cid} if cid else {}
                rest = [
                    step.si(eid).set(headers=headers)
                    for step in (record_status, send, fetch_attachments)
                ]
                render.apply_async((eid,), producer=producer, chain=rest, headers=headers, eta=eta)
                done += 1
    except (KombuError, OSError) as err:
        log.warning("publish failed for %d of %d emails: %r", len(ids) - done, len(ids), err)
        raise PublishError(str(err), ids[done:]) from err
