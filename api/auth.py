"""Bearer authentication and scope checks for the API's views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request

from api.db import db
from api.errors import Forbidden, Unauthorized
from api.keys import find_key
from models import ApiKey

F = TypeVar("F", bound=Callable[..., Any])

# Read by the test that walks every route: a view without it must be on the public list.
SCOPE_ATTRIBUTE = "_mailroom_scope"


def presented_token() -> str | None:
    """The token of the request's `Authorization: Bearer <token>`, if it has one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def verified_key() -> ApiKey | None:
    """The live key the request presents, verified once per request (the rate limiter asks
    first, the view's scope check after)."""
    if "verified_key" not in g:
        token = presented_token()
        g.verified_key = find_key(db(), token) if token is not None else None
    key: ApiKey | None = g.verified_key
    return key


def authenticate() -> ApiKey:
    """The request's `Authorization: Bearer <key>`, kept in `g.api_key`; 401 when unusable."""
    if presented_token() is None:
        raise Unauthorized("missing Bearer API key")
    key = verified_key()
    if key is None:
        raise Unauthorized("unknown or revoked API key")
    g.api_key = key
    return key


def check_scope(key: ApiKey, scope: str) -> None:
    """403 unless `key` may act in `scope` (or is `admin`)."""
    if not key.allows(scope):
        raise Forbidden(f"this API key lacks the `{scope}` scope")


def require_scope(scope: str) -> Callable[[F], F]:
    """The view needs `Authorization: Bearer <key>` with `scope` (or `admin`)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check_scope(authenticate(), scope)
            return view(*args, **kwargs)

        setattr(wrapper, SCOPE_ATTRIBUTE, scope)
        return cast(F, wrapper)

    return decorator
