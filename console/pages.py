"""The suppression list, templates and webhook endpoints pages."""

from __future__ import annotations

import uuid
from typing import Any

from flask import redirect, render_template, request, url_for
from sqlalchemy import select, update

from api.addresses import AddressError, bare_address, format_address
from api.db import db
from console.blueprint import bp, needs
from console.errors import ConsoleError
from models import CallbackDelivery, Suppression, Template, WebhookEndpoint, utcnow
from store.suppressions import suppress
from tasks.publish import publish_callbacks

REASONS = ("manual", "hard_bounce", "complaint", "unsubscribe")


@bp.get("/suppressions")
@needs("admin")
def suppressions() -> str:
    """Suppressed addresses, newest first, searched by address."""
    q = (request.args.get("q") or "").strip().lower()
    stmt = select(Suppression)
    if q:
        stmt = stmt.where(Suppression.address.contains(q, autoescape=True))
    rows = db().scalars(stmt.order_by(Suppression.created_at.desc()).limit(200)).all()
    return render_template(
        "console/suppressions.html",
        rows=rows,
        q=q,
        reasons=REASONS,
        notice=request.args.get("notice"),
    )


@bp.post("/suppressions")
@needs("admin")
def add_suppression() -> Any:
    """Stop sending to an address."""
    reason = request.form.get("reason", "manual")
    if reason not in REASONS:
        raise ConsoleError(400, f"`reason` must be one of {', '.join(REASONS)}")
    try:
        address = bare_address(format_address(request.form.get("address", "")))
    except AddressError as err:
        raise ConsoleError(400, str(err)) from err
    suppress(db(), address, reason=reason, source="console", detail=None)
    db().commit()
    return redirect(url_for("console.suppressions", notice=f"{address} suppressed"), code=303)


@bp.post("/suppressions/remove")
@needs("admin")
def remove_suppression() -> Any:
    """Allow sending to an address again."""
    address = request.form.get("address", "").strip().lower()
    entry = db().get(Suppression, address)
    if entry is None:
        raise ConsoleError(404, f"`{address}` is not suppressed")
    db().delete(entry)
    db().commit()
    notice = f"{address} may be sent to again"
    return redirect(url_for("console.suppressions", notice=notice), code=303)


@bp.get("/templates")
def templates() -> str:
    """Templates with their current version."""
    rows = db().scalars(select(Template).order_by(Template.name)).all()
    return render_template("console/templates.html", rows=rows)


@bp.get("/webhooks")
@needs("admin")
def webhooks() -> str:
    """Webhook endpoints and their latest deliveries."""
    endpoints = db().scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at)).all()
    deliveries = (
        db()
        .scalars(select(CallbackDelivery).order_by(CallbackDelivery.created_at.desc()).limit(50))
        .all()
    )
    return render_template(
        "console/webhooks.html",
        endpoints=endpoints,
        deliveries=deliveries,
        notice=request.args.get("notice"),
    )


@bp.post("/webhooks/deliveries/<uuid:delivery_id>/redeliver")
@needs("admin")
def redeliver(delivery_id: uuid.UUID) -> Any:
    """POST a delivery to its endpoint again, whatever its state (pending once more)."""
    session = db()
    moved = session.execute(
        update(CallbackDelivery)
        .where(CallbackDelivery.id == delivery_id)
        .values(state="pending", next_attempt_at=utcnow())
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        raise ConsoleError(404, f"Delivery `{delivery_id}` not found")
    session.commit()
    # A lost publish is not lost work: the sweeper re-publishes overdue pending deliveries.
    publish_callbacks([delivery_id])
    return redirect(url_for("console.webhooks", notice="Delivery queued again"), code=303)
