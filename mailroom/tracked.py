"""Tracking applied to an email's final content, as the worker renders it.

The HTML part only: the text part keeps plain links (a redirect there would show a long opaque
URL, and text readers load no pixels). Tracking that was asked for but is not configured
cannot happen (the API refuses such a send, and a default needs the configuration).
"""

from __future__ import annotations

import uuid

from mailroom.config_tracking import TrackingSettings
from mailroom.tracking_links import TrackingLinks
from render import Rendered
from render.tracking import track_html


def with_tracking(
    email_id: uuid.UUID,
    content: Rendered,
    settings: TrackingSettings,
    *,
    opens: bool | None,
    clicks: bool | None,
) -> Rendered:
    """`content` with its links and pixel for what the email asked (None: the default)."""
    opens = settings.opens if opens is None else opens
    clicks = settings.clicks if clicks is None else clicks
    links = TrackingLinks.of(settings)
    if content.html is None or links is None or not (opens or clicks):
        return content
    ours = links.base_url + "/t/"

    def click_url(target: str) -> str | None:
        # A link that is already one of ours (HTML copied from a tracked email) stays as is.
        return None if target.startswith(ours) else links.click_url(email_id, target)

    html = track_html(
        content.html,
        click_url=click_url if clicks else None,
        open_url=links.open_url(email_id) if opens else None,
    )
    return Rendered(content.subject, html, content.text)
