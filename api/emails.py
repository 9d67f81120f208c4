"""`GET /emails/<id>` and `GET /emails`: where an email stands, and its history."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any

from flask.views import MethodView
from marshmallow import fields, validate
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import selectinload

from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import BadRequest, NotFound
from api.schemas import AddressList, BaseSchema, envelope, success
from models import Email, EmailRecipient, EmailStatus, EmailTag

bp = Blueprint("emails", __name__, description="Email status and history")


class AttemptSchema(BaseSchema):
    """One provider attempt."""

    provider = fields.String()
    at = fields.AwareDateTime()
    outcome = fields.String(metadata={"enum": ["accepted", "failed"]})
    error = fields.String(allow_none=True)


class EventSchema(BaseSchema):
    """One event in the email's history."""

    type = fields.String()
    at = fields.AwareDateTime()
    recipient = fields.String(allow_none=True)
    provider = fields.String(allow_none=True)
    detail = fields.Raw(allow_none=True)


class EmailSchema(BaseSchema):
    """An email as `GET /emails/<id>` shows it."""

    email_id = fields.UUID(data_key="emailId", attribute="id")
    status = fields.Function(lambda e: e.status.value, metadata={"enum": list(EmailStatus)})
    template_id = fields.UUID(data_key="templateId", allow_none=True)
    from_addr = fields.String(data_key="from")
    to = AddressList(attribute="to_addrs")
    cc = AddressList(attribute="cc_addrs")
    bcc = AddressList(attribute="bcc_addrs")
    subject = fields.String()
    tags = fields.List(fields.String())
    provider = fields.String(allow_none=True)
    provider_message_id = fields.String(data_key="providerMessageId", allow_none=True)
    created_at = fields.AwareDateTime(data_key="createdAt")
    updated_at = fields.AwareDateTime(data_key="updatedAt")
    attempts = fields.List(fields.Nested(AttemptSchema))
    events = fields.List(fields.Nested(EventSchema))


class EmailListSchema(BaseSchema):
    """A page of emails."""

    items = fields.List(fields.Nested(EmailSchema))
    next_cursor = fields.String(data_key="nextCursor", allow_none=True)


class EmailQuerySchema(BaseSchema):
    """Filters and paging of `GET /emails`."""

    status = fields.String(validate=validate.OneOf([s.value for s in EmailStatus]))
    to = fields.String()
    tag = fields.String()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String()


def _with_history(stmt: Select[tuple[Email]]) -> Select[tuple[Email]]:
    return stmt.options(
        selectinload(Email.events),
        selectinload(Email.attempts),
        selectinload(Email.tag_rows),
    )


def _encode_cursor(email: Email) -> str:
    raw = f"{email.created_at.isoformat()}|{email.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, eid = raw.partition("|")
        return datetime.fromisoformat(at), uuid.UUID(eid)
    except (ValueError, binascii.Error, UnicodeDecodeError) as err:
        raise BadRequest("`cursor` is not a cursor this API gave out") from err


@bp.route("/emails/<uuid:email_id>")
class EmailById(MethodView):
    """One email."""

    @require_scope("read")
    @bp.response(200, envelope("EmailResponse", EmailSchema))
    def get(self, email_id: uuid.UUID) -> dict[str, Any]:
        """Status, attempts and events of one email."""
        email = db().scalars(_with_history(select(Email).where(Email.id == email_id))).first()
        if email is None:
            raise NotFound(f"Email `{email_id}` not found")
        return success("Email found", email)


@bp.route("/emails")
class Emails(MethodView):
    """Emails, newest first."""

    @require_scope("read")
    @bp.arguments(EmailQuerySchema, location="query")
    @bp.response(200, envelope("EmailListResponse", EmailListSchema))
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List emails by status, recipient or tag, a page at a time."""
        stmt = select(Email)
        if "status" in query:
            stmt = stmt.where(Email.status == EmailStatus(query["status"]))
        if "to" in query:
            stmt = stmt.where(
                Email.id.in_(
                    select(EmailRecipient.email_id).where(
                        EmailRecipient.address == query["to"].strip().lower()
                    )
                )
            )
        if "tag" in query:
            stmt = stmt.where(
                Email.id.in_(select(EmailTag.email_id).where(EmailTag.tag == query["tag"]))
            )
        if "cursor" in query:
            at, eid = _decode_cursor(query["cursor"])
            stmt = stmt.where(
                or_(Email.created_at < at, and_(Email.created_at == at, Email.id < eid))
            )
        limit = query["limit"]
        stmt = stmt.order_by(Email.created_at.desc(), Email.id.desc()).limit(limit + 1)
        emails = list(db().scalars(_with_history(stmt)))
        next_cursor = _encode_cursor(emails[limit - 1]) if len(emails) > limit else None
        return success(
            f"{min(len(emails), limit)} emails",
            {"items": emails[:limit], "next_cursor": next_cursor},
        )
