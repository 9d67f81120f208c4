"""One-click unsubscribe links (RFC 8058): the signed token and the headers that carry it.

A token names one recipient and one scope, `list:<id>` (a list send) or `sender:<address>`
(a batch, or a send asking for it), signed with MAILROOM_UNSUBSCRIBE_SECRET: changing either
breaks the signature, so a token cannot be forged nor turned on another address. Tokens do not
expire: a recipient may unsubscribe from an old message.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from itsdangerous import BadSignature, URLSafeSerializer

from mailroom.config import Settings

_SALT = "mailroom.unsubscribe"
# The embedded setup's generated secret, beside its database.
SECRET_FILE = "unsubscribe.secret"
PATH_PREFIX = "/u/"


class BadToken(ValueError):
    """A token that was not signed by this Mailroom, or does not say what one says."""


@dataclass(frozen=True)
class Unsubscribe:
    """What a token says: who leaves what (`list:<uuid>` or `sender:<address>`)."""

    address: str
    scope: str

    @property
    def list_id(self) -> str | None:
        """The list's id when the scope is a list."""
        kind, _, value = self.scope.partition(":")
        return value if kind == "list" else None


def secret(settings: Settings) -> str | None:
    """The signing secret: the setting, else the embedded setup's file (made on first use);
    None elsewhere (no link was ever written, see `UnsubscribeSettings.problem`)."""
    if settings.unsubscribe.secret:
        return settings.unsubscribe.secret
    if settings.broker_url.startswith("filesystem://"):
        return _file_secret(settings.var_dir / SECRET_FILE)
    return None


@lru_cache(maxsize=4)
def _file_secret(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # exclusive create: two processes starting together keep the first one's secret
            with path.open("x", encoding="ascii") as out:
                out.write(secrets.token_urlsafe(32))
            path.chmod(0o600)
        except FileExistsError:
            pass
    return path.read_text(encoding="ascii").strip()


def _serializer(settings: Settings) -> URLSafeSerializer:
    key = secret(settings)
    if key is None:
        raise BadToken("the unsubscribe link is not valid")
    return URLSafeSerializer(key, salt=_SALT)


def make_token(settings: Settings, address: str, scope: str) -> str:
    """The token for `address` (bare, any case) leaving `scope`."""
    return str(_serializer(settings).dumps([address.strip().lower(), scope]))


def read_token(settings: Settings, token: str) -> Unsubscribe:
    """What a token says; BadToken if it was not made by `make_token` with this secret."""
    try:
        value = _serializer(settings).loads(token)
    except BadSignature as err:
        raise BadToken("the unsubscribe link is not valid") from err
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise BadToken("the unsubscribe link is not valid")
    return Unsubscribe(address=value[0], scope=value[1])


def headers(settings: Settings, address: str, scope: str) -> dict[str, str]:
    """List-Unsubscribe and List-Unsubscribe-Post for `address`; none without a public URL."""
    base = settings.unsubscribe.public_url
    if not base or not address:
        return {}
    links = [f"<{base}{PATH_PREFIX}{make_token(settings, address, scope)}>"]
    if settings.unsubscribe.mailto:
        links.append(f"<mailto:{settings.unsubscribe.mailto}?subject=unsubscribe>")
    return {
        "List-Unsubscribe": ", ".join(links),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
