"""Sending to a stored list: a task pages through the members and writes emails in chunks.

Email ids are derived from the batch id and the member's address (uuid5), so a redelivered
or retried list task skips the emails it already wrote instead of writing them twice. Each
chunk is committed, then published as batch tasks; a lost publish is the sweeper's to redo.
"""

from __future__ import annotations

import logging
import uuid
from email.headerregistry import Address
from typing import Any

from celery import Task
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from api.email_records import create_emails
from mailroom.specs import TemplateLoader
from models import Email, EmailStatus
from render import Rendered, RenderError, render_inline
from store.outcomes import fail as _fail
from store.schedule import forget_publish
from tasks import runtime
from tasks.app import celery_app
from tasks.lists import iter_members
from tasks.publish import PublishError, publish_batches

log = logging.getLogger(__name__)
CHUNK = 500
UNRENDERED = Rendered(subject="", html=None, text=None)
_UUID_FIELDS = ("template_id", "brand_id")


def _request(payload: dict[str, Any]) -> dict[str, Any]:
    """The validated request as the API passed it (UUIDs travelled as strings)."""
    request = dict(payload)
    for name in _UUID_FIELDS:
        if request.get(name):
            request[name] = uuid.UUID(request[name])
    return request


@celery_app.task(
    name="mailroom.send_list",
    bind=True,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    max_retries=10,
)
def send_list(self: Task, batch_id: str, list_id: str, payload: dict[str, Any]) -> int:
    """Write and publish one email per member of the list; how many this run wrote."""
    batch = uuid.UUID(batch_id)
    shared = _request(payload)
    written = 0
    with runtime.get().sessions() as session:
        loader = TemplateLoader(session)
        spec = loader.spec(str(shared["template_id"])) if shared.get("template_id") else None
        declared = {v.name for v in spec.variables} if spec is not None else None
        for members in iter_members(session, uuid.UUID(list_id), CHUNK):
            ids = {m.email: uuid.uuid5(batch, m.email) for m in members}
            existing = set(session.scalars(select(Email.id).where(Email.id.in_(ids.values()))))
            pending: list[tuple[dict[str, Any], Rendered]] = []
            pending_ids: list[uuid.UUID] = []
            failures: dict[uuid.UUID, str] = {}
            for member in members:
                email_id = ids[member.email]
                if email_id in existing:
                    continue
                variables = {**shared.get("variables", {}), **(member.variables or {})}
                if declared is not None:
                    # A CSV's extra columns are not the template's business.
                    variables = {k: v for k, v in variables.items() if k in declared}
                to = str(Address(display_name=member.name or "", addr_spec=member.email))
                request = {**shared, "to": [to], "cc": [], "bcc": [], "variables": variables}
                rendered = UNRENDERED
                if spec is None:
                    try:
                        rendered = render_inline(
                            shared["subject"],
                            shared.get("html"),
                            shared.get("text"),
                            variables,
                            lookup=loader.spec,
                            lang=shared.get("lang"),
                        )
                    except RenderError as err:
                        failures[email_id] = err.message
                        rendered = Rendered(subject=shared["subject"], html=None, text="")
                pending.append((request, rendered))
                pending_ids.append(email_id)
            emails = create_emails(session, pending, email_ids=pending_ids)
            for email_id, failure in failures.items():
                _fail(session, {email_id: failure})
            new = [e.id for e in emails if e.status == EmailStatus.QUEUED and e.id not in failures]
            session.commit()
            written += len(ids) - len(existing)
            try:
                publish_batches(new)
            except PublishError as err:
                # Due for the sweeper's next run instead of a lease from now.
                forget_publish(session, err.unpublished)
                session.commit()
                log.warning(
                    "list %s: %d emails wait for the sweeper", list_id, len(err.unpublished)
                )
    log.info("list %s: batch %s wrote %d emails", list_id, batch_id, written)
    return written
