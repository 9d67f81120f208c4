"""`/lists`: recipient lists for batch sends, filled from JSON or a CSV upload.

Scopes follow what a call does, as the contract's do: building or changing a list is part of
sending (`send`), looking at one is reading (`read`).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate
from sqlalchemy import select

from api.addresses import AddressError
from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import BadRequest, NotFound
from api.header_text import header_text_error
from api.list_rows import MAX_NAME, member_email
from api.schemas import BaseSchema, envelope, success
from models import ListMember, RecipientList, Suppression
from tasks.lists import MemberWriter

bp = Blueprint("lists", __name__, description="Recipient lists")

MAX_MEMBERS_PER_REQUEST = 1000
CSV_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        "text/csv": {"schema": {"type": "string"}},
    },
}


class ListInSchema(BaseSchema):
    """The body of `POST /lists`."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ListOutSchema(BaseSchema):
    """A list without its members."""

    list_id = fields.UUID(data_key="listId", attribute="id")
    name = fields.String()
    member_count = fields.Integer(data_key="memberCount")
    created_at = fields.AwareDateTime(data_key="createdAt")
    updated_at = fields.AwareDateTime(data_key="updatedAt")


class MemberOutSchema(BaseSchema):
    """One member."""

    email = fields.String()
    name = fields.String(allow_none=True)
    variables = fields.Dict()
    suppressed = fields.Boolean()
    # Who put the address on the suppression list (`unsubscribe`, `ses`, `sendgrid`, `api`);
    # null while it is not on it.
    suppression_source = fields.String(data_key="suppressionSource", allow_none=True)
    created_at = fields.AwareDateTime(data_key="createdAt")


class MemberPageSchema(BaseSchema):
    """A page of members, by email."""

    items = fields.List(fields.Nested(MemberOutSchema))
    next_cursor = fields.String(data_key="nextCursor", allow_none=True)


class ListDetailSchema(ListOutSchema):
    """A list with the first page of its members."""

    members = fields.Nested(MemberPageSchema)


class LimitSchema(BaseSchema):
    """`limit` query parameter."""

    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class MemberPagingSchema(LimitSchema):
    """`limit` and `cursor` query parameters."""

    cursor = fields.String()


class MemberInSchema(BaseSchema):
    """One member to add; `email` is checked by the view, to name its index in the error."""

    email = fields.String(required=True)
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=MAX_NAME))
    variables = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=100)),
        load_default=dict,
        validate=validate.Length(max=200),
    )


class MembersInSchema(BaseSchema):
    """The body of `POST /lists/<id>/members`."""

    members = fields.List(
        fields.Nested(MemberInSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_MEMBERS_PER_REQUEST),
    )


class MembersAddedSchema(BaseSchema):
    """What adding members did: `added` new members, `updated` ones already in the list."""

    added = fields.Integer()
    updated = fields.Integer()
    duplicates = fields.Integer()
    suppressed = fields.Integer()
    member_count = fields.Integer(data_key="memberCount")


def encode_email_cursor(email: str) -> str:
    """An opaque cursor pointing just after this member."""
    return base64.urlsafe_b64encode(email.encode()).decode().rstrip("=")


def decode_email_cursor(cursor: str) -> str:
    """The email a cursor points after; 400 for anything this API did not hand out."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        email = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (ValueError, binascii.Error) as err:  # UnicodeDecodeError is a ValueError
        raise BadRequest("`cursor` is not a cursor this API gave out") from err
    if not email:
        raise BadRequest("`cursor` is not a cursor this API gave out")
    return email


def _get(list_id: uuid.UUID) -> RecipientList:
    found = db().get(RecipientList, list_id)
    if found is None:
        raise NotFound(f"List `{list_id}` not found")
    return found


def _members_page(list_id: uuid.UUID, limit: int, cursor: str | None) -> dict[str, Any]:
    stmt = select(ListMember).where(ListMember.list_id == list_id)
    if cursor:
        stmt = stmt.where(ListMember.email > decode_email_cursor(cursor))
    rows = list(db().scalars(stmt.order_by(ListMember.email).limit(limit + 1)))
    next_cursor = encode_email_cursor(rows[limit - 1].email) if len(rows) > limit else None
    rows = rows[:limit]
    found = db().execute(
        select(Suppression.address, Suppression.source).where(
            Suppression.address.in_([r.email for r in rows])
        )
    )
    sources = {address: source for address, source in found}
    items = [
        {
            "email": r.email,
            "name": r.name,
            "variables": r.variables,
            "suppressed": r.suppressed,
            "suppression_source": sources.get(r.email),
            "created_at": r.created_at,
        }
        for r in rows
    ]
    return {"items": items, "next_cursor": next_cursor}


def _checked(members: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every member's checked email, or a 400 naming the first bad one by its index."""
    checked = []
    for index, member in enumerate(members):
        try:
            checked.append((member_email(member["email"]), member))
        except AddressError as err:
            raise BadRequest(f"`members.{index}`: {err}") from err
        # The name is the display name of the member's `To:` in a list send.
        if member["name"] and (error := header_text_error(f"members.{index}.name", member["name"])):
            raise BadRequest(error)
    return checked


@bp.route("/lists")
class Lists(MethodView):
    """Create lists."""

    @require_scope("send")
    @bp.arguments(ListInSchema)
    @bp.response(201, envelope("ListResponse", ListOutSchema))
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Create an empty list (scope `send`: lists exist to be sent to)."""
        recipients = RecipientList(name=data["name"], member_count=0)
        db().add(recipients)
        db().commit()
        return success("List created", recipients)


@bp.route("/lists/<uuid:list_id>")
class ListById(MethodView):
    """Read or delete one list."""

    @require_scope("read")
    @bp.arguments(LimitSchema, location="query")
    @bp.response(200, envelope("ListDetailResponse", ListDetailSchema))
    def get(self, query: dict[str, Any], list_id: uuid.UUID) -> dict[str, Any]:
        """The list, its member count and its first page of members (scope `read`)."""
        found = _get(list_id)
        columns = ("id", "name", "member_count", "created_at", "updated_at")
        data = {name: getattr(found, name) for name in columns}
        data["members"] = _members_page(list_id, query["limit"], None)
        return success("List found", data)

    @require_scope("send")
    @bp.response(200, envelope("ListDeleted", ListOutSchema))
    def delete(self, list_id: uuid.UUID) -> dict[str, Any]:
        """Delete a list and its members (scope `send`, as for building it)."""
        found = _get(list_id)
        db().delete(found)
        db().commit()
        return success("List deleted", found)


@bp.route("/lists/<uuid:list_id>/members")
class ListMembers(MethodView):
    """Page through a list's members, or add some."""

    @require_scope("read")
    @bp.arguments(MemberPagingSchema, location="query")
    @bp.response(200, envelope("MemberPageResponse", MemberPageSchema))
    def get(self, query: dict[str, Any], list_id: uuid.UUID) -> dict[str, Any]:
        """Members ordered by email, a page at a time (scope `read`)."""
        _get(list_id)
        page = _members_page(list_id, query["limit"], query.get("cursor"))
        return success(f"{len(page['items'])} members", page)

    @require_scope("send")
    @bp.arguments(MembersInSchema)
    @bp.response(200, envelope("MembersAddedResponse", MembersAddedSchema))
    def post(self, data: dict[str, Any], list_id: uuid.UUID) -> dict[str, Any]:
        """Add or update up to 1,000 members; one bad address stores nothing (scope `send`)."""
        checked = _checked(data["members"])
        _get(list_id)
        writer = MemberWriter(db(), list_id)
        for email, member in checked:
            writer.add(email, member["name"], member["variables"])
        count = writer.finish()
        db().commit()
        return success(
            "Members added",
            {
                "added": writer.added,
                "updated": writer.updated,
                "duplicates": writer.duplicates,
                "suppressed": writer.suppressed,
                "member_count": count,
            },
        )
