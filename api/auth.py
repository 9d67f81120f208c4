"""Bearer authentication and scope checks for the API's views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request

from api.db import db
from api.errors import Forbidden, Unauthorized
from api.keys import find_key

F = TypeVar("F", bound=Callable[..., Any])

# Read by the test that walks every route: a view without it must be on the public list.
SCOPE_ATTRIBUTE = "_mailroom_scope"


def require_scope(scope: str) -> Callable[[F], F]:
    """The view needs `Authorization: Bearer <key>` with `scope` (or `admin`)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("missing Bearer API key")
            key = find_key(db(), token.strip())
            if key is None:
                raise Unauthorized("unknown or revoked API key")
            if not key.allows(scope):
                raise Forbidden(f"this API key lacks the `{scope}` scope")
            g.api_key = key
            return view(*args, **kwargs)

        setattr(wrapper, SCOPE_ATTRIBUTE, scope)
        return cast(F, wrapper)

    return decorator
