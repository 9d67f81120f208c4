"""The emails pages: the list, one email with its timeline, its preview, and its actions."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from flask import Response, g, make_response, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.addresses import AddressError, bare_address, format_address
from api.db import db
from api.errors import ApiError
from console.blueprint import bp, needs
from console.email_query import EmailFilter, email_page
from console.errors import ConsoleError
from console.resend import resend
from console.timeline import timeline
from models import Email, EmailStatus
from store.schedule import cancel_scheduled
from store.suppressions import suppress

# The preview may draw inline styles and data: images; nothing else loads, nothing runs.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'none'; frame-ancestors 'self'; sandbox"
)


@bp.get("/emails")
def emails() -> str:
    """Emails, newest first, filtered by the form."""
    f = EmailFilter.from_args(request.args)
    if not f.mode:
        f = replace(f, mode="test" if g.api_key.is_test else "live")
    try:
        found = email_page(db(), f, request.args.get("cursor") or None)
    except ApiError as err:  # a cursor this console did not give out
        raise ConsoleError(400, err.reason) from err
    return render_template(
        "console/emails.html",
        page=found,
        f=f,
        statuses=[s.value for s in EmailStatus],
    )


def _email(email_id: uuid.UUID) -> Email:
    stmt = select(Email).where(Email.id == email_id)
    stmt = stmt.options(
        selectinload(Email.events), selectinload(Email.attempts), selectinload(Email.tag_rows)
    )
    email = db().scalars(stmt).first()
    if email is None:
        raise ConsoleError(404, f"Email `{email_id}` not found")
    return email


@bp.get("/emails/<uuid:email_id>")
def email(email_id: uuid.UUID) -> str:
    """One email: envelope, headers, parts, attachments and its timeline."""
    found = _email(email_id)
    return render_template(
        "console/email.html",
        email=found,
        timeline=timeline(found),
        notice=request.args.get("notice"),
    )


@bp.get("/emails/<uuid:email_id>/preview")
def preview(email_id: uuid.UUID) -> Response:
    """The email's HTML part, for the sandboxed frame: no script, nothing fetched."""
    found = _email(email_id)
    response = make_response(found.html or "<p>(no HTML part)</p>")
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _back(email_id: uuid.UUID, notice: str) -> Any:
    return redirect(url_for("console.email", email_id=email_id, notice=notice), code=303)


@bp.post("/emails/<uuid:email_id>/cancel")
@needs("send")
def cancel(email_id: uuid.UUID) -> Any:
    """Cancel a scheduled email that has not started."""
    found = _email(email_id)
    session = db()
    if not cancel_scheduled(session, [email_id]):
        raise ConsoleError(
            409,
            f"Email `{email_id}` is {found.status.value}: only a scheduled email "
            "that has not started can be cancelled",
        )
    session.commit()
    return _back(email_id, "Email cancelled")


@bp.post("/emails/<uuid:email_id>/resend")
@needs("send")
def resend_email(email_id: uuid.UUID) -> Any:
    """Send the email's content again as a new email linked to this one."""
    try:
        new_id = resend(_email(email_id))
    except ApiError as err:
        raise ConsoleError(err.status, err.reason) from err
    return redirect(url_for("console.email", email_id=new_id, notice="Resent"), code=303)


@bp.post("/emails/<uuid:email_id>/suppress")
@needs("admin")
def suppress_recipient(email_id: uuid.UUID) -> Any:
    """Put the chosen recipient of the email on the suppression list."""
    found = _email(email_id)
    wanted = request.form.get("address", "")
    recipients = {bare_address(a) for a in [*found.to_addrs, *found.cc_addrs, *found.bcc_addrs]}
    try:
        address = bare_address(format_address(wanted))
    except AddressError as err:
        raise ConsoleError(400, str(err)) from err
    if address not in recipients:
        raise ConsoleError(400, f"`{wanted}` is not a recipient of this email")
    suppress(
        db(),
        address,
        reason="manual",
        source="console",
        detail=f"from email {email_id}",
        email_id=email_id,
    )
    db().commit()
    return _back(email_id, f"{address} suppressed")
