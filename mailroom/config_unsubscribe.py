"""The one-click unsubscribe settings (RFC 8058): where recipients reach Mailroom, and the secret
that signs their links.

Links are only written when MAILROOM_PUBLIC_URL is set. Every API process and worker must share
the secret; the embedded setup (one host, `make run`) generates one under MAILROOM_VAR_DIR.
"""

from __future__ import annotations

from pydantic import field_validator

from mailroom.setting_fields import _Section, setting


class UnsubscribeSettings(_Section):
    """One-click unsubscribe (RFC 8058); the public base URL, signing secret, mailto address."""

    public_url: str = setting(
        "",
        "MAILROOM_PUBLIC_URL",
        "base URL recipients reach the API at, for List-Unsubscribe links; unset: no links",
        example="https://mail.example.com",
    )
    secret: str = setting(
        "",
        "MAILROOM_UNSUBSCRIBE_SECRET",
        "signs unsubscribe links; required with MAILROOM_PUBLIC_URL unless the embedded setup "
        "(filesystem broker), which keeps one in var/unsubscribe.secret",
        secret=True,
    )
    mailto: str = setting(
        "",
        "MAILROOM_UNSUBSCRIBE_MAILTO",
        "address added as List-Unsubscribe's mailto: (you process that mailbox); unset: none",
        example="unsubscribe@example.com",
    )

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("expected an http(s) URL such as https://mail.example.com")
        return value

    @field_validator("mailto")
    @classmethod
    def _mailto(cls, value: str) -> str:
        value = value.strip()
        if value and (value.count("@") != 1 or any(c in value for c in " <>,\r\n")):
            raise ValueError("expected a bare address such as unsubscribe@example.com")
        return value

    def problem(self, embedded: bool) -> str | None:
        """What is wrong with the section given the rest of the settings; None: nothing."""
        if self.public_url and not self.secret and not embedded:
            return "MAILROOM_UNSUBSCRIBE_SECRET: required when MAILROOM_PUBLIC_URL is set"
        return None
