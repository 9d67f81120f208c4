"""Signed tracking links: the worker makes them, the API's public tracking endpoints read them.

A click token carries the email's id and the link's exact target, signed with
MAILROOM_TRACKING_SECRET: the redirect goes only where a token we signed says, so it is no
open redirect, and a changed character is refused. Tokens do not expire: a link in an old
email keeps working (rotate the secret to retire them all).
"""

from __future__ import annotations

import uuid
from typing import NamedTuple

from itsdangerous import BadData, URLSafeSerializer

from mailroom.config_tracking import TrackingSettings

_OPEN_SALT = "mailroom.tracking.open"
_CLICK_SALT = "mailroom.tracking.click"


class Click(NamedTuple):
    """What a valid click token says."""

    email_id: uuid.UUID
    url: str


class TrackingLinks:
    """Makes and reads the tracking URLs of one deployment's settings."""

    def __init__(self, base_url: str, secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._opens = URLSafeSerializer(secret, salt=_OPEN_SALT)
        self._clicks = URLSafeSerializer(secret, salt=_CLICK_SALT)

    @classmethod
    def of(cls, settings: TrackingSettings) -> TrackingLinks | None:
        """The links of `settings`; None when tracking is not configured."""
        if not (settings.url and settings.secret):
            return None
        return cls(settings.url, settings.secret)

    def open_url(self, email_id: uuid.UUID) -> str:
        """The pixel's URL for an email."""
        return f"{self.base_url}/t/o/{self._opens.dumps(email_id.hex)}.gif"

    def click_url(self, email_id: uuid.UUID, target: str) -> str:
        """The redirect URL that leads to `target` and records a click of the email."""
        return f"{self.base_url}/t/c/{self._clicks.dumps([email_id.hex, target])}"

    def read_open(self, token: str) -> uuid.UUID | None:
        """The email of a pixel token; None when it is not one we signed."""
        try:
            value = self._opens.loads(token)
            return uuid.UUID(hex=value) if isinstance(value, str) else None
        except (BadData, ValueError):
            return None

    def read_click(self, token: str) -> Click | None:
        """The email and target of a click token; None when it is not one we signed."""
        try:
            value = self._clicks.loads(token)
        except BadData:
            return None
        if not (
            isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)
        ):
            return None
        try:
            return Click(uuid.UUID(hex=value[0]), value[1])
        except ValueError:
            return None
