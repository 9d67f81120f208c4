"""Console sign-in: an API key exchanged for a signed session cookie, and CSRF tokens.

The cookie holds the key's prefix and a random session id, signed (itsdangerous, with expiry)
with the key's stored hash: it needs no shared secret between processes, it survives restarts,
and each request looks the key up again, so a revoked key ends every session made with it.
The CSRF token of a form is the session id signed with another salt; the sign-in form, which
has no session yet, uses a double-submit cookie.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from flask import Response, g, request
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from sqlalchemy import select

from api.db import db
from api.keys import find_key
from models import ApiKey

COOKIE = "mailroom_console"
LOGIN_COOKIE = "mailroom_console_login"
PATH = "/console"
SESSION_SECONDS = 8 * 3600
_SESSION_SALT = "mailroom.console.session"
_CSRF_SALT = "mailroom.console.csrf"


@dataclass(frozen=True)
class ConsoleSession:
    """The signed-in key and this session's id."""

    key: ApiKey
    session_id: str

    def allows(self, scope: str) -> bool:
        """Whether the key may act in `scope`."""
        return self.key.allows(scope)


class SessionEnded(Exception):
    """The cookie was valid once but its time is up: the sign-in page says so."""


def _signer(key: ApiKey, salt: str) -> TimestampSigner:
    return TimestampSigner(key.secret_hash, salt=salt)


def sign_in(presented: str) -> tuple[ApiKey, str] | None:
    """The key `presented` names and a new cookie value for it, or None when it is unusable."""
    key = find_key(db(), presented.strip())
    if key is None or not key.allows("read"):
        return None
    value = _signer(key, _SESSION_SALT).sign(secrets.token_urlsafe(16)).decode()
    return key, f"{key.prefix}:{value}"


def current_session() -> ConsoleSession | None:
    """The request's session, or None; SessionEnded when it expired."""
    if "console_session" not in g:
        g.console_session = _read_cookie(request.cookies.get(COOKIE, ""))
    found: ConsoleSession | None = g.console_session
    return found


def _read_cookie(raw: str) -> ConsoleSession | None:
    prefix, sep, signed = raw.partition(":")
    if not sep:
        return None
    row = db().scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    try:
        session_id = _signer(row, _SESSION_SALT).unsign(signed, max_age=SESSION_SECONDS)
    except SignatureExpired as err:
        raise SessionEnded("your session expired: sign in again") from err
    except BadSignature:
        return None
    return ConsoleSession(row, session_id.decode())


def csrf_token() -> str:
    """The token every form of this session carries (the sign-in form's before a session)."""
    session = current_session()
    if session is None:
        return login_token()
    return _signer(session.key, _CSRF_SALT).sign(session.session_id).decode()


def csrf_valid(token: str) -> bool:
    """Whether `token` is this session's CSRF token (or the sign-in form's)."""
    session = current_session()
    if session is None:
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie, token)
    try:
        signed = _signer(session.key, _CSRF_SALT).unsign(token, max_age=SESSION_SECONDS)
    except BadSignature:
        return False
    return hmac.compare_digest(signed.decode(), session.session_id)


def login_token() -> str:
    """The sign-in form's double-submit token: the cookie's value, made now if absent."""
    if "console_login_token" not in g:
        g.console_login_token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    token: str = g.console_login_token
    return token


def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    """A console cookie: HttpOnly, SameSite=Strict, Secure when the request came over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )


def end_session(response: Response) -> None:
    """Forget the session cookie in the browser."""
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="Strict")
