"""`POST /send/batch`: one template (or inline content) to up to 1,000 recipients.

Everything is validated first: an error names the index of the bad recipient and stores
nothing. Then every email is written in one transaction and published in chunks of a hundred
per task message, so the request never waits for 1,000 renders or 1,000 publishes: template
emails are rendered by the workers (inline content, compiled once, is rendered here).
A `listId` instead of recipients sends to a stored list from a task that pages through it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from flask import Response, current_app, g, jsonify
from flask.views import MethodView
from kombu.exceptions import KombuError
from marshmallow import ValidationError, fields, post_load, validate, validates_schema
from sqlalchemy.orm import Session

from api import idempotency
from api.accept import in_key_mode, with_default_sender, with_template
from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import BadRequest, NotFound, ServiceUnavailable
from api.schemas import (
    BaseSchema,
    Items,
    MessageFields,
    RecipientFields,
    envelope,
    send_request,
    success,
)
from api.storage_checks import check_attachments
from mailroom.specs import TemplateLoader
from models import EmailStatus, RecipientList
from render import Rendered, RenderError, TemplateSpec, check_variables
from store.accept import accept
from store.request import SendRequest, render_content, request_to_json
from tasks.app import celery_app
from tasks.publish import publish

log = logging.getLogger(__name__)
bp = Blueprint("batch", __name__, description="Send one message to many recipients")
MAX_RECIPIENTS = 1000
UNRENDERED = Rendered(subject="", html=None, text=None)
# tasks/list_send.py's task, sent by name: the API publishes tasks, it does not import them.
SEND_LIST = "mailroom.send_list"


@dataclass(frozen=True)
class Recipient:
    """One recipient of a batch: its addresses, and values over the message's."""

    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    variables: Mapping[str, Any] = field(default_factory=dict)
    lang: str | None = None

    def request(self, message: SendRequest) -> SendRequest:
        """This recipient's email: the message's fields with its own on top."""
        return message.but(
            to=self.to,
            cc=self.cc,
            bcc=self.bcc,
            variables={**message.variables, **self.variables},
            lang=self.lang if self.lang is not None else message.lang,
        )


@dataclass(frozen=True)
class Batch:
    """A loaded `POST /send/batch` body: the message once, and whom it goes to."""

    message: SendRequest
    recipients: tuple[Recipient, ...] = ()
    list_id: uuid.UUID | None = None


class BatchRecipientSchema(RecipientFields):
    """One recipient: `POST /send`'s recipient fields, with its limits."""

    @post_load
    def _recipient(self, data: dict[str, Any], **_: Any) -> Recipient:
        return Recipient(
            to=tuple(data["to"]),
            cc=tuple(data.get("cc", ())),
            bcc=tuple(data.get("bcc", ())),
            variables=data["variables"],
            lang=data.get("lang"),
        )


class BatchRequestSchema(MessageFields):
    """The body of `POST /send/batch`: `POST /send`'s message fields, with its limits."""

    recipients = Items(
        fields.Nested(BatchRecipientSchema), validate=validate.Length(min=1, max=MAX_RECIPIENTS)
    )
    list_id = fields.UUID(data_key="listId")

    @validates_schema
    def _shape(self, data: dict[str, Any], **_: Any) -> None:
        if ("recipients" in data) == ("list_id" in data):
            raise ValidationError("give either `recipients` or `listId`")

    @post_load
    def _batch(self, data: dict[str, Any], **_: Any) -> Batch:
        recipients = data.pop("recipients", ())
        list_id = data.pop("list_id", None)
        # Bulk mail carries one-click unsubscribe unless the caller says `false`.
        wanted = data.pop("unsubscribe", None) is not False
        message = send_request(data)
        if wanted:
            message = message.but(unsubscribe=f"list:{list_id}" if list_id else "sender")
        return Batch(message, tuple(recipients), list_id)


class BatchAnswerSchema(BaseSchema):
    """What a batch answers."""

    batch_id = fields.UUID(data_key="batchId")
    email_ids = fields.List(fields.UUID(), data_key="emailIds")
    count = fields.Integer()
    suppressed = fields.Integer()
    list_id = fields.UUID(data_key="listId", allow_none=True)
    status = fields.String()


_BATCH_RESPONSE = envelope("BatchResponse", BatchAnswerSchema)()


@bp.route("/send/batch")
class SendBatch(MethodView):
    """Many emails, one request."""

    @require_scope("send")
    @bp.arguments(BatchRequestSchema)
    @bp.response(200, envelope("BatchResponse", BatchAnswerSchema))
    @bp.alt_response(409, response="DEFAULT_ERROR")
    @bp.doc(parameters=[idempotency.HEADER_PARAMETER])
    def post(self, batch: Batch) -> Response:
        """Validate every recipient, store every email at once, publish them in chunks."""
        session = db()
        answer, replayed = idempotency.answer_once(
            session,
            idempotency.from_request(g.api_key.id),
            lambda remember: _send_batch(session, batch, remember),
        )
        response = jsonify(answer)
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response


def _send_batch(session: Session, batch: Batch, remember: idempotency.Remember) -> dict[str, Any]:
    """Check, store and queue a batch (or hand a list send to its task); the answer's body."""
    loader = TemplateLoader(session)
    message = with_default_sender(batch.message, "from")
    spec = None
    if message.template_id is not None:
        spec = loader.spec(str(message.template_id))
        template = loader.row(str(message.template_id))
        if spec is None or template is None:
            raise BadRequest(f"Template `{message.template_id}` not found")
        message = with_template(message, template)
    check_attachments(current_app.extensions["mailroom.storage"], message.attachments)
    batch_id = uuid.uuid4()
    message = in_key_mode(message.but(tags=(*message.tags, f"batch:{batch_id}")))
    if batch.list_id is not None:
        return _queue_list(message, batch.list_id, batch_id, spec, remember)

    requests = [
        _recipient_email(recipient.request(message), index, spec, loader)
        for index, recipient in enumerate(batch.recipients)
    ]
    emails = accept(session, requests, correlation_id=g.correlation_id)
    answer = _BATCH_RESPONSE.dump(
        success(
            "Batch queued successfully",
            {
                "batch_id": batch_id,
                "email_ids": [e.id for e in emails],
                "count": len(emails),
                "suppressed": sum(e.status == EmailStatus.SUPPRESSED for e in emails),
                "list_id": None,
                "status": "queued",
            },
        )
    )
    remember(answer, None)
    session.commit()
    queued = [e.id for e in emails if e.status == EmailStatus.QUEUED]
    # The committed rows are the outbox: what the broker did not take, the sweeper publishes.
    if publish(session, queued, bulk=True):
        log.warning("batch %s stored; the sweeper will publish it", batch_id)
    return cast(dict[str, Any], answer)


def _recipient_email(
    request: SendRequest, index: int, spec: TemplateSpec | None, loader: TemplateLoader
) -> tuple[SendRequest, Rendered]:
    """One recipient's request, checked, with what it renders to here (inline content only:
    the workers render templates)."""
    try:
        if spec is not None:
            check_variables(spec, request.variables, lookup=loader.spec)
            return request, UNRENDERED
        rendered = render_content(request, loader.spec)
    except RenderError as err:
        raise BadRequest(f"`recipients[{index}]`: {err.message}") from err
    return request, rendered


def _queue_list(
    message: SendRequest,
    list_id: uuid.UUID,
    batch_id: uuid.UUID,
    spec: TemplateSpec | None,
    remember: idempotency.Remember,
) -> dict[str, Any]:
    """Hand a list send to a task that pages through the members."""
    session = db()
    recipient_list = session.get(RecipientList, list_id)
    if recipient_list is None:
        raise NotFound(f"List `{list_id}` not found")
    if spec is not None:
        try:
            check_variables(spec, message.variables, lookup=TemplateLoader(session).spec)
        except RenderError as err:
            if "is required" not in err.message:  # members' columns may supply it
                raise BadRequest(err.message) from err
    answer = _BATCH_RESPONSE.dump(
        success(
            "List send queued",
            {
                "batch_id": batch_id,
                "email_ids": [],
                "count": recipient_list.member_count,
                "suppressed": 0,
                "list_id": list_id,
                "status": "queued",
            },
        )
    )
    # The key's row is written (and a concurrent twin waits on it) before the task is sent,
    # and committed only once it is: a refused publish leaves the key free for a retry.
    remember(answer, None)
    session.flush()
    try:
        celery_app.send_task(SEND_LIST, (str(batch_id), str(list_id), request_to_json(message)))
    except (KombuError, OSError) as err:
        session.rollback()
        raise ServiceUnavailable(f"broker unavailable: list send {batch_id} not queued") from err
    session.commit()
    return cast(dict[str, Any], answer)
