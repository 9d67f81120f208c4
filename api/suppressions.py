"""`/suppressions`: addresses Mailroom will not send to, whichever provider is used."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate
from sqlalchemy import select

from api.addresses import AddressError, bare_address, format_address
from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import BadRequest, NotFound
from api.schemas import BaseSchema, envelope, success
from models import Suppression
from store.suppressions import suppress

bp = Blueprint("suppressions", __name__, description="The suppression list")


class SuppressionInSchema(BaseSchema):
    """The body of `POST /suppressions`."""

    address = fields.String(required=True)
    reason = fields.String(
        load_default="manual",
        validate=validate.OneOf(["manual", "hard_bounce", "complaint", "unsubscribe"]),
    )
    detail = fields.String(load_default=None, allow_none=True)


class SuppressionOutSchema(BaseSchema):
    """One entry."""

    address = fields.String()
    reason = fields.String()
    source = fields.String()
    detail = fields.String(allow_none=True)
    email_id = fields.UUID(data_key="emailId", allow_none=True)
    created_at = fields.AwareDateTime(data_key="createdAt")


class SuppressionQuerySchema(BaseSchema):
    """Filters of `GET /suppressions`."""

    address = fields.String()
    reason = fields.String()
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class SuppressionListSchema(BaseSchema):
    """Entries, newest first."""

    items = fields.List(fields.Nested(SuppressionOutSchema))


def _address(raw: str) -> str:
    try:
        return bare_address(format_address(raw))
    except AddressError as err:
        raise BadRequest(str(err)) from err


@bp.route("/suppressions")
class Suppressions(MethodView):
    """Inspect and add entries."""

    @require_scope("admin")
    @bp.arguments(SuppressionQuerySchema, location="query")
    @bp.response(200, envelope("SuppressionListResponse", SuppressionListSchema))
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Entries, newest first, by address or reason."""
        stmt = select(Suppression)
        if "address" in query:
            stmt = stmt.where(Suppression.address == query["address"].strip().lower())
        if "reason" in query:
            stmt = stmt.where(Suppression.reason == query["reason"])
        rows = db().scalars(stmt.order_by(Suppression.created_at.desc()).limit(query["limit"]))
        return success("Suppressions", {"items": list(rows)})

    @require_scope("admin")
    @bp.arguments(SuppressionInSchema)
    @bp.response(201, envelope("SuppressionResponse", SuppressionOutSchema))
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Stop sending to an address."""
        entry = suppress(
            db(),
            _address(data["address"]),
            reason=data["reason"],
            source="api",
            detail=data["detail"],
        )
        db().commit()
        return success("Address suppressed", entry)


@bp.route("/suppressions/<path:address>")
class SuppressionByAddress(MethodView):
    """Remove an entry."""

    @require_scope("admin")
    @bp.response(200, envelope("SuppressionResponse", SuppressionOutSchema))
    def delete(self, address: str) -> dict[str, Any]:
        """Allow sending to the address again."""
        entry = db().get(Suppression, address.strip().lower())
        if entry is None:
            raise NotFound(f"`{address}` is not suppressed")
        db().delete(entry)
        db().commit()
        return success("Suppression removed", entry)
