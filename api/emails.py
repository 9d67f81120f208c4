"""`GET /emails/<id>` and `GET /emails`: where an email stands, and its history."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, g
from flask.views import MethodView
from marshmallow import fields, validate
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import Conflict, NotFound
from api.paging import newest_first, page
from api.schemas import WRITTEN_AS_STRING, AddressList, BaseSchema, envelope, success
from models import Email, EmailRecipient, EmailStatus, EmailTag
from store.sandbox import raw_message
from store.schedule import cancel_scheduled

bp = Blueprint("emails", __name__, description="Email status and history")
MODES = ("live", "test")
RAW_TYPE = "message/rfc822"


def mode_of(email: Email) -> str:
    """`test` for an email sent with a test-mode key, `live` otherwise."""
    return "test" if email.is_test else "live"


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
    template_version = fields.Integer(data_key="templateVersion", allow_none=True)
    from_addr = fields.String(data_key="from")
    to = AddressList(attribute="to_addrs", metadata=WRITTEN_AS_STRING)
    cc = AddressList(attribute="cc_addrs", metadata=WRITTEN_AS_STRING)
    bcc = AddressList(attribute="bcc_addrs", metadata=WRITTEN_AS_STRING)
    subject = fields.String()
    tags = fields.List(fields.String())
    provider = fields.String(allow_none=True)
    provider_message_id = fields.String(data_key="providerMessageId", allow_none=True)
    mode = fields.Function(mode_of, metadata={"enum": list(MODES)})
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
    template_id = fields.UUID(data_key="templateId")
    created_after = fields.AwareDateTime(data_key="createdAfter")
    created_before = fields.AwareDateTime(data_key="createdBefore")
    mode = fields.String(
        validate=validate.OneOf(MODES),
        metadata={"description": "live or test emails, never both; default: the key's own mode"},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String()


def _with_history(stmt: Select[tuple[Email]]) -> Select[tuple[Email]]:
    return stmt.options(
        selectinload(Email.events),
        selectinload(Email.attempts),
        selectinload(Email.tag_rows),
    )


def find_email(email_id: uuid.UUID) -> Email:
    """The email with its history, as `GET /emails/<id>` shows it; 404 when there is none."""
    email = db().scalars(_with_history(select(Email).where(Email.id == email_id))).first()
    if email is None:
        raise NotFound(f"Email `{email_id}` not found")
    return email


@bp.route("/emails/<uuid:email_id>")
class EmailById(MethodView):
    """One email."""

    @require_scope("read")
    @bp.response(200, envelope("EmailResponse", EmailSchema))
    def get(self, email_id: uuid.UUID) -> dict[str, Any]:
        """Status, attempts and events of one email."""
        return success("Email found", find_email(email_id))

    @require_scope("send")
    @bp.response(200, envelope("EmailResponse", EmailSchema))
    @bp.alt_response(409, response="DEFAULT_ERROR")
    def delete(self, email_id: uuid.UUID) -> dict[str, Any]:
        """Cancel a scheduled email that has not started; it ends `failed` (cancelled)."""
        session = db()
        email = session.get(Email, email_id)
        if email is None:
            raise NotFound(f"Email `{email_id}` not found")
        if not cancel_scheduled(session, [email_id]):
            raise Conflict(
                f"Email `{email_id}` is {email.status.value}: only a scheduled email "
                "that has not started can be cancelled"
            )
        session.commit()
        session.expire_all()
        cancelled = session.scalars(_with_history(select(Email).where(Email.id == email_id))).one()
        return success("Email cancelled", cancelled)


@bp.route("/emails")
class Emails(MethodView):
    """Emails, newest first."""

    @require_scope("read")
    @bp.arguments(EmailQuerySchema, location="query")
    @bp.response(200, envelope("EmailListResponse", EmailListSchema))
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List emails by status, recipient or tag, a page at a time; live or test emails,
        never both (by default those of the key's own mode)."""
        mode = query.get("mode") or ("test" if g.api_key.is_test else "live")
        stmt = select(Email).where(Email.is_test == (mode == "test"))
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
        if "template_id" in query:
            stmt = stmt.where(Email.template_id == query["template_id"])
        if "created_after" in query:
            stmt = stmt.where(Email.created_at >= query["created_after"])
        if "created_before" in query:
            stmt = stmt.where(Email.created_at < query["created_before"])
        stmt = newest_first(stmt, Email, query.get("cursor"), query["limit"])
        emails, next_cursor = page(list(db().scalars(_with_history(stmt))), query["limit"])
        return success(f"{len(emails)} emails", {"items": emails, "next_cursor": next_cursor})


@bp.route("/emails/<uuid:email_id>/raw")
class EmailRaw(MethodView):
    """The message a test-mode email was delivered as."""

    @require_scope("read")
    @bp.doc(
        responses={
            "200": {
                "description": "the message as the sandbox provider accepted it",
                "content": {RAW_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    )
    @bp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, email_id: uuid.UUID) -> Response:
        """The raw message (RFC 5322) of a test-mode email the sandbox provider accepted."""
        session = db()
        email = session.get(Email, email_id)
        if email is None:
            raise NotFound(f"Email `{email_id}` not found")
        if not email.is_test:
            raise NotFound(
                f"Email `{email_id}` is a live email: raw messages are kept for test-mode "
                "emails only"
            )
        raw = raw_message(session, email_id)
        if raw is None:
            raise NotFound(
                f"Email `{email_id}` has no raw message: it is {email.status.value}, and only "
                "a message the sandbox accepted has one"
            )
        return Response(raw, mimetype=RAW_TYPE)
