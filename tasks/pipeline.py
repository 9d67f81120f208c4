"""The per-email chain: render → fetch_attachments → send → record_status (see tasks.publish).

Each task takes the email id only and works through the store, whose every write is a
compare-and-set from the state the step expects, so a redelivered or duplicated task does
nothing twice. The steps are the batch's, with a list of one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from kombu.exceptions import KombuError
from sqlalchemy.exc import DBAPIError

from mailroom import logs
from models import EmailStatus, utcnow
from store.outcomes import fail, mark_recorded
from store.schedule import release_scheduled
from store.stored import load
from tasks import runtime
from tasks.app import celery_app
from tasks.prepare import describe_emails, render_emails
from tasks.publish import SEND_STEP, publish_chain
from tasks.sending import send_group
from tasks.time_limits import render_seconds

log = logging.getLogger(__name__)
T = TypeVar("T")


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
                fail(session, {email_id: f"{self.name} failed: {exc!r}"[:2000]})
        except DBAPIError:
            log.exception("could not mark email %s failed; the sweeper will retry it", email_id)


def _task(name: str) -> Callable[[Callable[..., T]], Any]:
    return celery_app.task(name=name, base=PipelineTask, bind=True)  # type: ignore[no-any-return]


@_task("mailroom.render")
def render(self: Task, email_id: str) -> None:
    """Finish the content the API rendered: brand wrapping, CSS inlining, the text part."""
    eid = uuid.UUID(email_id)
    try:
        render_step(eid)
    except SoftTimeLimitExceeded:
        # The render's transaction is rolled back; a retry would only run out of time again.
        limit = render_seconds(runtime.get().settings)
        reason = f"rendering took longer than {limit:g} s (MAILROOM_RENDER_TIME_LIMIT_SECONDS)"
        log.warning("email %s failed: %s", eid, reason)
        with runtime.transaction() as session:
            fail(session, {eid: reason})


def render_step(eid: uuid.UUID) -> None:
    """queued -> rendered. A scheduled email published with an eta is released first."""
    with runtime.transaction() as session:
        emails = load(session, [eid])
        if emails and emails[0].status == EmailStatus.SCHEDULED:
            # The sweeper also releases it if this message is lost.
            send_at = emails[0].send_at
            if send_at is None or send_at > utcnow() or not release_scheduled(session, [eid]):
                return
            emails = load(session, [eid])
        render_emails(session, emails, record=False, isolate=False)


@_task("mailroom.fetch_attachments")
def fetch_attachments(self: Task, email_id: str) -> None:
    """Check every attachment exists and fits the size limit; record what will be attached."""
    fetch_step(uuid.UUID(email_id))


def fetch_step(eid: uuid.UUID) -> None:
    """Describe the attachments (sniffed, checked, sized) once, before any send."""
    with runtime.transaction() as session:
        describe_emails(session, load(session, [eid]), record=False)


@_task("mailroom.send")
def send(self: Task, email_id: str) -> None:
    """Claim the email, walk the providers in order, record every attempt and the outcome."""
    countdown = send_step(uuid.UUID(email_id))
    if countdown is not None:
        # A retry after backoff, or the wait for another worker's claim to expire (it may
        # have died holding it; then this task takes the claim over).
        # The budget is MAILROOM_SEND_MAX_RETRIES, counted in the row (claim.tries) so it
        # survives sweeps; Celery's own count must not stop it first (None would mean the
        # task's default of 4, not "unlimited").
        budget = runtime.get().settings.send_max_retries + 2
        raise self.retry(countdown=countdown, max_retries=budget)


def send_step(eid: uuid.UUID) -> float | None:
    """One send try; the countdown to the next try when no provider took it, else None."""
    result = send_group([eid])
    if eid in result.unsent:
        raise result.unsent[eid]  # nothing reached a provider: the task's retry takes it again
    if eid in result.throttled:
        # Not a try: a fresh message after the wait, so Celery's retry count is not spent.
        publish_chain(eid, from_step=SEND_STEP, countdown=result.throttled[eid])
        return None
    if eid in result.waiting:
        return result.waiting[eid] + 1.0
    return result.retries.get(eid)


@_task("mailroom.record_status")
def record_status(self: Task, email_id: str) -> None:
    """Write the outcome record once per final status (the hook for callbacks and metrics)."""
    record_step(uuid.UUID(email_id))


def record_step(eid: uuid.UUID) -> None:
    """The `recorded` event, once per final status."""
    with runtime.transaction() as session:
        rows = mark_recorded(session, [eid])
    for row in rows:
        log.info("email %s recorded as %s", eid, EmailStatus(row[1]).value)
