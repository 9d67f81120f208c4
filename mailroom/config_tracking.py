"""The open and click tracking settings: where the pixel and the redirect live, their signing
secret, and whether a send that does not say is tracked. See docs/tracking.md."""

from __future__ import annotations

from pydantic import field_validator, model_validator

from mailroom.setting_fields import _Section, setting


class TrackingSettings(_Section):
    """Tracking; without both a URL and a secret no email is tracked."""

    url: str | None = setting(
        None,
        "MAILROOM_TRACKING_URL",
        "public base URL of the API for tracking links and pixels (…/t/o/, …/t/c/); unset: off",
        example="https://mail.example.com",
    )
    secret: str | None = setting(
        None,
        "MAILROOM_TRACKING_SECRET",
        "key that signs tracking links (at least 32 characters); changing it breaks sent links",
        secret=True,
    )
    opens: bool = setting(
        False, "MAILROOM_TRACKING_OPENS", "track opens of a send that does not say (`tracking`)"
    )
    clicks: bool = setting(
        False, "MAILROOM_TRACKING_CLICKS", "track clicks of a send that does not say (`tracking`)"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _complete(self) -> TrackingSettings:
        # Checked here rather than in a field validator, whose error would quote the secret.
        if self.secret and len(self.secret) < 32:
            raise ValueError("MAILROOM_TRACKING_SECRET of at least 32 characters")
        if (self.opens or self.clicks) and not self.enabled:
            raise ValueError(
                "MAILROOM_TRACKING_OPENS and _CLICKS need MAILROOM_TRACKING_URL and _SECRET"
            )
        return self

    @property
    def enabled(self) -> bool:
        """Whether links and pixels can be made."""
        return bool(self.url and self.secret)
