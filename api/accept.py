"""Accepting a validated email: store it, commit, then publish its pipeline.

Shared by every endpoint that sends one email (`POST /send`, Hasura's `sendEmail`, the
GoMail-compatible one), so that they store the same rows and answer a broker outage the same
way (a 200: the committed row is the outbox); and the values every sending endpoint derives
from a request, the same way too.
"""

from __future__ import annotations

import itertools
import logging
import os
import uuid
from collections.abc import Callable
from datetime import timedelta

from flask import current_app, g
from sqlalchemy.orm import Session

from api.errors import BadRequest
from models import EmailStatus, Template, utcnow
from render import Rendered
from store.accept import Accepted, accept
from store.request import SendRequest
from tasks.publish import publish

log = logging.getLogger(__name__)
# Test hook for tests/chaos: exit the process on every Nth accepted email, right between the
# commit and the publish, to prove the sweeper sends what a crash there leaves behind.
_CRASH_EVERY = int(os.environ.get("MAILROOM_TEST_CRASH_AFTER_COMMIT") or 0)
_ACCEPTED = itertools.count(1)
NEAR_SCHEDULE = timedelta(minutes=10)


def with_default_sender(request: SendRequest, field: str) -> SendRequest:
    """The request with DEFAULT_FROM as sender if it names none; a 400 naming `field` when
    there is neither."""
    if request.from_addr is None:
        request = request.but(from_addr=current_app.config["DEFAULT_FROM"])
    if not request.from_addr:
        raise BadRequest(f"`{field}` is required (no default sender is configured)")
    return request


def in_key_mode(request: SendRequest) -> SendRequest:
    """The request in the mode of the key that sent it: a test-mode key's emails are test
    emails, which the send step hands to the sandbox provider and nothing else. A provider
    choice must name configured providers (a test email keeps it, and still goes to the
    sandbox)."""
    if request.providers is not None:
        configured = current_app.config["EMAIL_PROVIDERS"]
        unknown = [name for name in request.providers if name not in configured]
        if unknown:
            raise BadRequest(
                f"`providers`: {', '.join(f'`{n}`' for n in unknown)} not configured "
                f"(configured: {', '.join(configured)})"
            )
    return request.but(test=bool(g.api_key.is_test))


def with_template(request: SendRequest, template: Template) -> SendRequest:
    """The request with what its template fixes: version, brand, brand default and the static
    attachments (before its own), so the worker builds exactly what the API validated."""
    return request.but(
        template_version=template.version,
        brand_id=template.brand_id,
        brand_styles=(
            template.brand_styles if request.brand_styles is None else request.brand_styles
        ),
        attachments=tuple(dict.fromkeys([*template.attachments, *request.attachments])),
    )


def accept_email(
    session: Session,
    request: SendRequest,
    rendered: Rendered,
    *,
    email_id: uuid.UUID | None = None,
    before_commit: Callable[[Accepted], None] | None = None,
    test: bool | None = None,
) -> Accepted:
    """Store and commit the email, then publish its chain.

    Publishing after the commit means a worker never looks for a row that is not there yet. Once
    the row is committed the email is accepted, whether or not the broker took the message: one
    whose publish failed is made due for the sweeper, which publishes it once the broker is back.
    Answering an error here would make a retrying client send it twice. The email is in the
    calling key's mode unless `test` says otherwise (a copy keeps its original's).
    """
    request = in_key_mode(request) if test is None else request.but(test=test)
    [email] = accept(
        session,
        [(request, rendered)],
        correlation_id=g.correlation_id,
        email_ids=[email_id] if email_id is not None else None,
    )
    if before_commit is not None:
        before_commit(email)
    session.commit()
    if _CRASH_EVERY and next(_ACCEPTED) % _CRASH_EVERY == 0:
        os._exit(1)
    log.info("email accepted", extra={"email_id": str(email.id)})
    eta = None
    if email.status == EmailStatus.SCHEDULED and email.send_at is not None:
        # A near time is published with an eta so it leaves on time; a far one is left to the
        # sweeper, since a broker drops consumers that hold unacknowledged messages too long.
        if email.send_at - utcnow() <= NEAR_SCHEDULE:
            eta = email.send_at
    if email.status != EmailStatus.QUEUED and eta is None:
        return email
    if publish(session, [email.id], correlation={str(email.id): g.correlation_id}, eta=eta):
        log.warning("email %s stored; the sweeper will publish it", email.id)
    return email
