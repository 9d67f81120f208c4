"""Accepting a validated email: store it, commit, then publish its pipeline.

Shared by every endpoint that sends (`POST /send`, the GoMail-compatible one), so that they
store the same rows and answer a broker outage the same way.
"""

from __future__ import annotations

import itertools
import logging
import os
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import current_app, g
from sqlalchemy.orm import Session

from api.email_records import create_email
from api.errors import BadRequest, ServiceUnavailable
from models import Email, EmailStatus, utcnow
from render import Rendered
from store.schedule import forget_publish
from tasks.publish import PublishError, enqueue

log = logging.getLogger(__name__)
# Test hook for tests/chaos: exit the process on every Nth accepted email, right between the
# commit and the publish, to prove the sweeper sends what a crash there leaves behind.
_CRASH_EVERY = int(os.environ.get("MAILROOM_TEST_CRASH_AFTER_COMMIT") or 0)
_ACCEPTED = itertools.count(1)
NEAR_SCHEDULE = timedelta(minutes=10)


def apply_default_sender(request: dict[str, Any], field: str) -> None:
    """Fill `from_addr` with DEFAULT_FROM; a 400 naming `field` when there is neither."""
    request.setdefault("from_addr", current_app.config["DEFAULT_FROM"])
    if not request["from_addr"]:
        raise BadRequest(f"`{field}` is required (no default sender is configured)")


def accept_email(
    session: Session,
    request: dict[str, Any],
    rendered: Rendered,
    *,
    email_id: uuid.UUID | None = None,
    before_commit: Callable[[Email], None] | None = None,
) -> Email:
    """Store and commit the email, then publish its chain; a 503 if the broker refuses it.

    Publishing after the commit means a worker never looks for a row that is not there yet; an
    email whose publish failed stays stored, and the sweeper publishes it once the broker is back.
    """
    email = create_email(
        session, request, rendered, correlation_id=g.correlation_id, email_id=email_id
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
    if email.status == EmailStatus.QUEUED or eta is not None:
        try:
            enqueue([email.id], correlation={str(email.id): g.correlation_id}, eta=eta)
        except PublishError as err:
            if eta is not None:
                return email  # scheduled: the sweeper releases it anyway

            forget_publish(session, [email.id])
            session.commit()
            raise ServiceUnavailable(
                f"broker unavailable: email {email.id} is stored and will be sent "
                "once the broker is back",
                email_id=email.id,
            ) from err
    return email
