"""Sending to a stored list: a task pages through the members and writes emails in chunks.

Email ids are derived from the batch id and the member's address (uuid5), so a redelivered
or retried list task skips the emails it already wrote instead of writing them twice. Each
chunk is committed, then published as batch tasks; a lost publish is the sweeper's to redo.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from email.headerregistry import Address
from typing import Any

from celery import Task
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mailroom.specs import TemplateLoader
from models import Email, EmailStatus, ListMember
from render import Rendered, RenderError
from store.accept import accept
from store.outcomes import fail
from store.request import SendRequest, render_content, request_from_json
from tasks import runtime
from tasks.app import celery_app
from tasks.lists import iter_members
from tasks.publish import publish

log = logging.getLogger(__name__)
CHUNK = 500
UNRENDERED = Rendered(subject="", html=None, text=None)


@celery_app.task(
    name="mailroom.send_list",
    bind=True,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    max_retries=10,
)
def send_list(self: Task, batch_id: str, list_id: str, message: dict[str, Any]) -> int:
    """Write and publish one email per member of the list; how many this run wrote.

    `message` is the batch's request without recipients, as `request_to_json` wrote it.
    """
    batch = uuid.UUID(batch_id)
    shared = request_from_json(message)
    written = 0
    with runtime.get().sessions() as session:
        loader = TemplateLoader(session)
        spec = loader.spec(str(shared.template_id)) if shared.template_id else None
        declared = {v.name for v in spec.variables} if spec is not None else None
        for members in iter_members(session, uuid.UUID(list_id), CHUNK):
            ids = {m.email: uuid.uuid5(batch, m.email) for m in members}
            existing = set(session.scalars(select(Email.id).where(Email.id.in_(ids.values()))))
            fresh = [m for m in members if ids[m.email] not in existing]
            new = _write(session, shared, fresh, [ids[m.email] for m in fresh], loader, declared)
            session.commit()
            written += len(fresh)
            unpublished = publish(session, new, bulk=True)
            if unpublished:
                log.warning("list %s: %d emails wait for the sweeper", list_id, len(unpublished))
    log.info("list %s: batch %s wrote %d emails", list_id, batch_id, written)
    return written


def member_request(
    shared: SendRequest, member: ListMember, declared: set[str] | None
) -> SendRequest:
    """The email of one member: the message to its address, with its columns as variables."""
    variables: Mapping[str, Any] = {**shared.variables, **(member.variables or {})}
    if declared is not None:
        # A CSV's extra columns are not the template's business.
        variables = {k: v for k, v in variables.items() if k in declared}
    to = str(Address(display_name=member.name or "", addr_spec=member.email))
    return shared.but(to=(to,), cc=(), bcc=(), variables=variables)


def _write(
    session: Session,
    shared: SendRequest,
    members: Sequence[ListMember],
    email_ids: Sequence[uuid.UUID],
    loader: TemplateLoader,
    declared: set[str] | None,
) -> list[uuid.UUID]:
    """Store the members' emails (not committed); the ids of those to publish.

    Inline content is rendered here; a member whose values do not render gets a failed email,
    so the list's count stays whole and the reason is on record.
    """
    pending: list[tuple[SendRequest, Rendered]] = []
    failures: dict[uuid.UUID, str] = {}
    for member, email_id in zip(members, email_ids, strict=True):
        request = member_request(shared, member, declared)
        rendered = UNRENDERED
        if declared is None:
            try:
                rendered = render_content(request, loader.spec)
            except RenderError as err:
                failures[email_id] = err.message
                rendered = Rendered(subject=shared.subject or "", html=None, text="")
        pending.append((request, rendered))
    emails = accept(session, pending, email_ids=email_ids)
    fail(session, failures, record=True)
    return [e.id for e in emails if e.status == EmailStatus.QUEUED and e.id not in failures]
