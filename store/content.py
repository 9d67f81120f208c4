"""What preparing an email writes: its content as it will be sent, and its attachments'
description, each once, before any send."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from models import EmailStatus, EventType
from render import Rendered
from store.events import Event, add_events
from store.stored import StoredEmail
from store.tables import EMAILS
from store.transitions import per_email, transition


def mark_rendered(
    session: Session, rendered: Sequence[tuple[StoredEmail, Rendered]]
) -> list[uuid.UUID]:
    """queued -> rendered, writing the content where rendering changed it, and, for emails with
    nothing to attach, the (empty) attachment manifest. The emails that moved."""
    if not rendered:
        return []
    ids = [e.id for e, _ in rendered]
    values: dict[str, Any] = {}
    for column in ("subject", "html", "text"):
        # Only what rendering changed: inline content often comes back as the API stored it,
        # and rewriting kilobytes of unchanged html costs a row version's WAL for nothing.
        changed = {
            e.id: getattr(final, column)
            for e, final in rendered
            if getattr(e, column) != getattr(final, column)
        }
        if changed:
            values[column] = per_email(column, changed, ids)
    bare: dict[uuid.UUID, list[Any]] = {
        e.id: [] for e, _ in rendered if not e.attachment_keys and e.attachment_manifest is None
    }
    if bare:
        values["attachment_manifest"] = per_email("attachment_manifest", bare, ids)
    rows = transition(
        session,
        ids,
        expected=[EmailStatus.QUEUED],
        to=EmailStatus.RENDERED,
        values=values,
    )
    moved = [row[0] for row in rows]
    events = [Event(eid, EventType.RENDERED) for eid in moved]
    events += [
        Event(eid, EventType.ATTACHMENTS_READY, detail={"count": 0, "bytes": 0})
        for eid in moved
        if eid in bare
    ]
    add_events(session, events)
    return moved


def describe_attachments(
    session: Session, manifests: Mapping[uuid.UUID, list[dict[str, Any]]]
) -> list[uuid.UUID]:
    """Store each rendered email's attachment manifest, once. The emails described."""
    if not manifests:
        return []
    rows = transition(
        session,
        list(manifests),
        expected=[EmailStatus.RENDERED],
        values={"attachment_manifest": per_email("attachment_manifest", manifests)},
        where=[EMAILS.c.attachment_manifest.is_(None)],
    )
    add_events(
        session,
        [
            Event(
                row[0],
                EventType.ATTACHMENTS_READY,
                detail={
                    "count": len(manifests[row[0]]),
                    "bytes": sum(m["size"] for m in manifests[row[0]]),
                },
            )
            for row in rows
        ],
    )
    return [row[0] for row in rows]
