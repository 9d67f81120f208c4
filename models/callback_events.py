"""Status callbacks' event model and secrets, in the Standard Webhooks form.

Whichever provider reported a change, a callback names it the same way: `email.<what>`.
The statuses map one to one (`delivered` → `email.delivered`); events that are not statuses
(`opened`, `clicked`, `unsubscribed`, `failed_over`) are named the same way.
"""

from __future__ import annotations

import base64
import secrets

from models.status import EmailStatus

# Events that are not status changes, but are called back all the same.
EXTRA_EVENTS = ("opened", "clicked", "unsubscribed", "failed_over")
# Every word an endpoint may subscribe to (a status or an extra event), in its short form.
EVENT_WORDS = tuple(s.value for s in EmailStatus) + EXTRA_EVENTS
# The same in the standard form; an endpoint may subscribe with either.
EVENT_TYPES = tuple(f"email.{word}" for word in EVENT_WORDS)

SECRET_PREFIX = "whsec_"


def event_type(word: str) -> str:
    """The normalized event type of a status or event word: `email.<word>`."""
    return word if word.startswith("email.") else f"email.{word}"


def short_word(name: str) -> str:
    """A subscription's word without the `email.` prefix (endpoints store the short form)."""
    return name.removeprefix("email.")


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def is_standard(secret: str) -> bool:
    """Whether `secret` is in the `whsec_<base64>` form (else: an older, raw secret)."""
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        return bool(base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True))
    except ValueError:
        return False


def signing_key(secret: str) -> bytes:
    """The HMAC key: the decoded bytes of a `whsec_` secret, or an older secret's UTF-8 bytes
    (a receiver passes those bytes to its verifier: `Webhook(secret.encode())`)."""
    if is_standard(secret):
        return base64.b64decode(secret[len(SECRET_PREFIX) :])
    return secret.encode()
