"""`POST /send`: validate, render once, store, commit, publish, answer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, g, jsonify
from flask.views import MethodView
from marshmallow import ValidationError, fields, validate, validates_schema
from sqlalchemy.exc import IntegrityError

from api import idempotency
from api.accept import accept_email, apply_default_sender
from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import BadRequest
from api.schemas import (
    WRITTEN_AS_STRING,
    Address,
    AddressList,
    BaseSchema,
    Headers,
    check_recipients,
    envelope,
    no_line_breaks,
    success,
)
from api.storage_checks import check_attachments
from mailroom import metrics
from mailroom.specs import TemplateLoader
from models import Email, EmailStatus
from render import Rendered, RenderError, render_inline, render_template

bp = Blueprint("send", __name__, description="Send an email")


class SendRequestSchema(BaseSchema):
    """The body of `POST /send`."""

    template_id = fields.UUID(data_key="templateId", allow_none=True)
    subject = fields.String(validate=validate.Length(max=998))
    html = fields.String()
    text = fields.String()
    from_addr = Address(data_key="from")
    to = AddressList(required=True)
    cc = AddressList()
    bcc = AddressList()
    reply_to = Address(data_key="replyTo", allow_none=True)
    lang = fields.String()
    variables = fields.Dict(
        keys=fields.String(validate=validate.Length(max=100)),
        load_default=dict,
        validate=validate.Length(max=200),
    )
    attachments = fields.List(
        fields.String(validate=validate.Length(max=1024)),
        load_default=list,
        validate=validate.Length(max=50),
    )
    brand_styles = fields.Boolean(data_key="brandStyles", load_default=None, allow_none=True)
    custom_style = fields.String(data_key="customStyle", allow_none=True)
    headers = Headers(load_default=dict)
    tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=128)),
        load_default=list,
        validate=validate.Length(max=20),
    )
    send_at = fields.AwareDateTime(data_key="sendAt", default_timezone=None)
    # False leaves out the sender's stored signature (see /senders/<address>/signature).
    signature = fields.Boolean(load_default=True)

    @validates_schema
    def _content(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("template_id") is None:
            if not data.get("subject") or not (data.get("html") or data.get("text")):
                raise ValidationError(
                    "`subject` and `html` or `text` are required when there is no `templateId`"
                )
        if "subject" in data:
            no_line_breaks("subject", data["subject"])
        check_recipients(data, "to")


class SendDataSchema(BaseSchema):
    """What `POST /send` answers in `data`."""

    email_id = fields.UUID(data_key="emailId")
    template_id = fields.UUID(data_key="templateId", allow_none=True)
    from_addr = fields.String(data_key="from")
    to = AddressList(metadata=WRITTEN_AS_STRING)
    cc = AddressList(metadata=WRITTEN_AS_STRING)
    bcc = AddressList(metadata=WRITTEN_AS_STRING)
    attachments = fields.List(fields.String())
    body = fields.String(allow_none=True)
    status = fields.String()


# One instance for every request: webargs would build one per request from the class.
_SEND_REQUEST = SendRequestSchema()
SEND_RESPONSE_SCHEMA = envelope("SendResponse", SendDataSchema)
# Built once: a schema instance costs more to make than to dump one answer with.
_SEND_RESPONSE = SEND_RESPONSE_SCHEMA()


@bp.route("/send")
class Send(MethodView):
    """Queue one email."""

    @require_scope("send")
    @bp.arguments(_SEND_REQUEST)
    @bp.response(200, SEND_RESPONSE_SCHEMA)
    @bp.alt_response(409, response="DEFAULT_ERROR")
    @bp.doc(
        parameters=[
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "the same key and body within 24 h return the first answer",
            }
        ]
    )
    def post(self, request: dict[str, Any]) -> Response:
        """Validate, render, store and queue one email; nothing waits for a provider."""
        sent = send_email(request, idempotency.from_request(g.api_key.id))
        response = jsonify(sent.answer)
        if sent.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response


@dataclass(frozen=True)
class Sent:
    """What sending answered: the success envelope as JSON, and whether it is a replay."""

    answer: dict[str, Any]
    replayed: bool = False


def send_email(request: dict[str, Any], idem: idempotency.Idempotency | None = None) -> Sent:
    """Render, check, store and queue one loaded `SendRequestSchema` body.

    The one path of every `/send`-shaped request (`POST /send`, the Hasura `sendEmail` action),
    so they validate, store and answer alike. With `idem`, a key already used answers as it did.
    """
    session = db()
    if idem is not None:
        previous = idempotency.previous_answer(session, idem)
        if previous is not None:
            return Sent(previous, replayed=True)
    apply_default_sender(request, "from")
    started = time.perf_counter()
    rendered = _render(request, TemplateLoader(session))
    metrics.RENDER_SECONDS.labels("api").observe(time.perf_counter() - started)
    check_attachments(current_app.extensions["mailroom.storage"], request["attachments"])

    def remember(email: Email) -> None:
        if idem is not None:
            dumped = _SEND_RESPONSE.dump(_answer(email))
            idempotency.remember(session, idem, dumped, email.id)

    try:
        email = accept_email(session, request, rendered, before_commit=remember)
    except IntegrityError:
        # A concurrent request with the same key committed first: answer as it did.
        session.rollback()
        previous = idempotency.previous_answer(session, idem) if idem is not None else None
        if previous is None:
            raise
        return Sent(previous, replayed=True)
    return Sent(_SEND_RESPONSE.dump(_answer(email)))


def _answer(email: Email) -> dict[str, Any]:
    """The success envelope for an accepted email."""
    message = {
        EmailStatus.SCHEDULED: "Email scheduled successfully",
        EmailStatus.SUPPRESSED: "Email suppressed: every recipient is on the suppression list",
    }.get(email.status, "Email queued successfully")
    return success(
        message,
        {
            "email_id": email.id,
            "template_id": email.template_id,
            "from_addr": email.from_addr,
            "to": email.to_addrs,
            "cc": email.cc_addrs,
            "bcc": email.bcc_addrs,
            "attachments": email.attachment_keys,
            "body": email.html if email.html is not None else email.text,
            "status": email.status.value,
        },
    )


def _render(request: dict[str, Any], loader: TemplateLoader) -> Rendered:
    """Render once to validate (every template error is a 400 now) and to answer `body`.

    For a template, the request also takes the template's version, brand, brand default and
    static attachments (before its own), so the worker builds exactly what was validated.
    """
    template_id = request.get("template_id")
    try:
        if template_id is None:
            return render_inline(
                request["subject"],
                request.get("html"),
                request.get("text"),
                request["variables"],
                lookup=loader.spec,
                lang=request.get("lang"),
            )
        spec = loader.spec(str(template_id))
        template = loader.row(str(template_id))
        if spec is None or template is None:
            raise BadRequest(f"Template `{template_id}` not found")
        rendered = render_template(
            spec, request["variables"], lang=request.get("lang"), lookup=loader.spec
        )
    except RenderError as err:
        raise BadRequest(err.message) from err
    request["template_version"] = template.version
    request["brand_id"] = template.brand_id
    if request.get("brand_styles") is None:
        request["brand_styles"] = template.brand_styles
    request["attachments"] = list(dict.fromkeys([*template.attachments, *request["attachments"]]))
    return rendered
