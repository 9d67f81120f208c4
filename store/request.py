"""`SendRequest`: one email as a caller asked for it, validated, frozen at the API's edge.

Every sending path builds one (`POST /send`, `/send/batch` per recipient, list sends, GoMail,
Hasura, the CLI) and `store.accept` turns it into rows; nothing changes it on the way down.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from render import Rendered, TemplateLookup, render_inline


@dataclass(frozen=True)
class SendRequest:
    """What one email is to be: addresses, content or template, options."""

    from_addr: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: str | None = None
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    template_id: uuid.UUID | None = None
    # Fixed from the template when the request is accepted, so the worker builds what the
    # API validated.
    template_version: int | None = None
    brand_id: uuid.UUID | None = None
    lang: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    attachments: tuple[str, ...] = ()
    brand_styles: bool | None = None
    custom_style: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    send_at: datetime | None = None
    # False leaves out the sender's stored signature.
    signature: bool = True
    # This email's provider order (None: EMAIL_PROVIDERS'); checked against it by the API.
    providers: tuple[str, ...] | None = None
    # Sent with a test-mode key: never from the caller's body, always from the key, so the
    # email goes to the sandbox provider (see `api.accept.in_key_mode`).
    test: bool = False
    # Open and click tracking; None: the deployment's default (MAILROOM_TRACKING_OPENS/CLICKS),
    # read when the worker renders.
    track_opens: bool | None = None
    track_clicks: bool | None = None
    # One-click unsubscribe (RFC 8058) for the first `to` address: "sender" (from this sender)
    # or "list:<id>"; None: no List-Unsubscribe headers.
    unsubscribe: str | None = None

    def but(self, **changes: Any) -> SendRequest:
        """A copy with `changes` (a derived request: a recipient of a batch, a template's
        defaults applied)."""
        return replace(self, **changes)


# A request crosses the broker as JSON (a list send's message, from the API to its task).
_UUIDS = ("template_id", "brand_id")
_TUPLES = ("to", "cc", "bcc", "attachments", "tags")


def request_to_json(request: SendRequest) -> dict[str, Any]:
    """The request as JSON-ready values; `request_from_json` gives it back equal."""
    data = {f.name: getattr(request, f.name) for f in fields(request)}
    for name in _UUIDS:
        data[name] = str(data[name]) if data[name] is not None else None
    for name in _TUPLES:
        data[name] = list(data[name])
    data["variables"], data["headers"] = dict(request.variables), dict(request.headers)
    data["providers"] = list(request.providers) if request.providers is not None else None
    data["send_at"] = request.send_at.isoformat() if request.send_at is not None else None
    return data


def request_from_json(data: Mapping[str, Any]) -> SendRequest:
    """The request `request_to_json` wrote."""
    values = dict(data)
    for name in _UUIDS:
        values[name] = uuid.UUID(values[name]) if values[name] is not None else None
    for name in _TUPLES:
        values[name] = tuple(values[name])
    if values.get("providers") is not None:
        values["providers"] = tuple(values["providers"])
    if values["send_at"] is not None:
        values["send_at"] = datetime.fromisoformat(values["send_at"])
    return SendRequest(**values)


def render_content(request: SendRequest, lookup: TemplateLookup | None = None) -> Rendered:
    """The request's inline content rendered with its variables, as /send, a batch's
    recipient and a list's member are; RenderError for a bad template."""
    return render_inline(
        request.subject or "",
        request.html,
        request.text,
        request.variables,
        lookup=lookup,
        lang=request.lang,
    )
