"""Preparing emails for sending, any number at once: their content as it will be sent, then
their attachments described. The chain's render and fetch_attachments steps call these with
one email; a batch calls them with its chunk, in one transaction."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from mailroom import metrics
from mailroom.attachments import attachment_policy
from mailroom.content import final_content
from mailroom.specs import TemplateLoader
from mailroom.tracked import with_tracking
from models import EmailStatus
from render import Rendered, RenderError
from store.content import describe_attachments, mark_rendered
from store.outcomes import fail
from store.stored import StoredEmail
from tasks import runtime
from tasks.attachments import AttachmentsRefused, build_manifest

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """What preparing a set of emails did."""

    # The emails as they now stand (rendered content, attachments described).
    emails: list[StoredEmail] = field(default_factory=list)
    # Emails an unexpected error kept from being prepared (with `isolate`).
    leftovers: list[uuid.UUID] = field(default_factory=list)


def render_emails(
    session: Session, emails: Sequence[StoredEmail], *, record: bool, isolate: bool
) -> Prepared:
    """queued -> rendered for each queued email of `emails`; one that cannot render fails
    with the reason (and is recorded, with `record`). With `isolate`, an unexpected error puts
    the email in `leftovers` instead of failing the whole set."""
    done = Prepared()
    loader = TemplateLoader(session)
    tracking = runtime.get().settings.tracking
    finals: list[tuple[StoredEmail, Rendered]] = []
    failures: dict[uuid.UUID, str] = {}
    for email in emails:
        if email.status != EmailStatus.QUEUED:
            done.emails.append(email)
            continue
        started = time.perf_counter()
        try:
            final = final_content(session, email, loader)
            final = with_tracking(
                email.id, final, tracking, opens=email.track_opens, clicks=email.track_clicks
            )
            finals.append((email, final))
        except RenderError as err:
            failures[email.id] = err.message
        except DBAPIError:
            raise  # the transaction is gone: the whole set retries, or the sweeper steps in
        except Exception:  # noqa: BLE001 - with isolate, one bad email must not stall the rest
            if not isolate:
                raise
            log.exception("email %s left its batch for its own chain", email.id)
            done.leftovers.append(email.id)
            continue
        metrics.RENDER_SECONDS.labels("worker").observe(time.perf_counter() - started)
    fail(session, failures, record=record)
    moved = set(mark_rendered(session, finals))
    for email, final in finals:
        if email.id in moved:
            manifest = () if not email.attachment_keys else email.attachment_manifest
            done.emails.append(
                dataclasses.replace(
                    email,
                    status=EmailStatus.RENDERED,
                    subject=final.subject,
                    html=final.html,
                    text=final.text,
                    attachment_manifest=manifest,
                )
            )
    return done


def describe_emails(
    session: Session, emails: Sequence[StoredEmail], *, record: bool
) -> list[StoredEmail]:
    """Describe the attachments (sniffed, checked, sized) of each rendered email that has none
    described yet; one whose attachments are refused fails with the reason. The emails ready to
    send, as they now stand."""
    rt = runtime.get()
    policy = attachment_policy(rt.settings)
    manifests: dict[uuid.UUID, list[dict[str, Any]]] = {}
    failures: dict[uuid.UUID, str] = {}
    for email in emails:
        if email.status != EmailStatus.RENDERED or email.attachment_manifest is not None:
            continue
        try:
            manifests[email.id] = build_manifest(
                rt.storage, email.attachment_keys, rt.settings.max_attachments_bytes, policy
            )
        except AttachmentsRefused as err:
            failures[email.id] = str(err)
    fail(session, failures, record=record)
    describe_attachments(session, manifests)
    ready = []
    for email in emails:
        if email.id in manifests:
            email = dataclasses.replace(email, attachment_manifest=tuple(manifests[email.id]))
        if email.status == EmailStatus.RENDERED and email.attachment_manifest is not None:
            ready.append(email)
    return ready
