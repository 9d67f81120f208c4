"""Signing in with an API key, and out."""

from __future__ import annotations

from flask import Response, make_response, redirect, render_template, request

from console.auth import (
    COOKIE,
    LOGIN_COOKIE,
    SESSION_SECONDS,
    csrf_token,
    end_session,
    login_token,
    set_cookie,
    sign_in,
)
from console.blueprint import bp

REFUSED = "Unknown or revoked API key, or it lacks the `read` scope."


def _next_url() -> str:
    """Where to go after signing in: a console page only, never another site."""
    wanted = request.values.get("next") or "/console/"
    return wanted if wanted.startswith("/console/") and "//" not in wanted else "/console/"


def _form(message: str | None, status: int) -> Response:
    # Signed in already (to switch keys), the form carries the session's token instead.
    page = render_template(
        "console/sign_in.html",
        message=message,
        notice=request.args.get("notice"),
        next_url=_next_url(),
        token=csrf_token(),
    )
    response = make_response(page, status)
    set_cookie(response, LOGIN_COOKIE, login_token(), SESSION_SECONDS)
    return response


@bp.get("/sign-in")
def sign_in_form() -> Response:
    """The sign-in form."""
    return _form(None, 200)


@bp.post("/sign-in", endpoint="sign_in")
def sign_in_post() -> Response:
    """Exchange an API key for a session cookie."""
    signed = sign_in(request.form.get("api_key", ""))
    if signed is None:
        return _form(REFUSED, 401)
    response = make_response(redirect(_next_url(), code=303))
    set_cookie(response, COOKIE, signed[1], SESSION_SECONDS)
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


@bp.post("/sign-out")
def sign_out() -> Response:
    """End this browser's session."""
    response = make_response(redirect("/console/sign-in?notice=Signed+out", code=303))
    end_session(response)
    return response
