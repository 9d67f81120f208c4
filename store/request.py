"""`SendRequest`: one email as a caller asked for it, validated, frozen at the API's edge.

Every sending path builds one (`POST /send`, `/send/batch` per recipient, list sends, GoMail,
Hasura, the CLI) and `store.accept` turns it into rows; nothing changes it on the way down.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


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

    def but(self, **changes: Any) -> SendRequest:
        """A copy with `changes` (a derived request: a recipient of a batch, a template's
        defaults applied)."""
        return replace(self, **changes)
