"""The console's blueprint: who may see a page, CSRF on every form, HTML error pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import quote

from flask import Blueprint, Response, g, make_response, redirect, render_template, request

from console.auth import SessionEnded, csrf_token, csrf_valid, current_session, end_session
from console.errors import ConsoleError

F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
# Pages anyone may open: the sign-in form and the stylesheet.
PUBLIC_ENDPOINTS = frozenset({"console.sign_in", "console.sign_in_form", "console.static"})
CSRF_MISSING = "The form's CSRF token is missing or invalid: reload the page and try again."


def error_page(status: int, message: str) -> Response:
    """A page that says what went wrong."""
    response = make_response(render_template("console/error.html", message=message), status)
    return response


@bp.errorhandler(ConsoleError)
def _console_error(err: ConsoleError) -> Response:
    return error_page(err.status, err.message)


@bp.before_request
def _guard() -> Response | None:
    """Signed in for every page but the sign-in form; a valid CSRF token on every POST."""
    try:
        session = current_session()
    except SessionEnded as ended:
        response = make_response(redirect(_sign_in_url(str(ended))))
        end_session(response)
        return response
    if request.method == "POST" and not csrf_valid(request.form.get("csrf_token", "")):
        return error_page(400, CSRF_MISSING)
    if session is None and request.endpoint not in PUBLIC_ENDPOINTS:
        return make_response(redirect(_sign_in_url(None)))
    if session is not None and not session.allows("read"):
        return error_page(403, "this API key lacks the `read` scope")
    if session is not None:
        # The signed-in key acts as the API's caller would: its mode (test or live) is what a
        # template test sent from the console is.
        g.api_key = session.key
    return None


def _sign_in_url(notice: str | None) -> str:
    path = request.full_path.rstrip("?") if request.method == "GET" else "/console/"
    url = f"/console/sign-in?next={quote(path)}"
    return f"{url}&notice={quote(notice)}" if notice else url


@bp.app_template_global()
def console_csrf_token() -> str:
    """The CSRF token forms put in their hidden `csrf_token` field."""
    return csrf_token()


@bp.context_processor
def _signed_in() -> dict[str, Any]:
    return {"console_session": g.get("console_session")}


def needs(scope: str) -> Callable[[F], F]:
    """The action needs a key with `scope` (or `admin`); 403 page otherwise."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            session = current_session()
            if session is None or not session.allows(scope):
                raise ConsoleError(403, f"this API key lacks the `{scope}` scope")
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator
