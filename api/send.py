"""`POST /send`: validate, render once, store, commit, publish, answer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Response, current_app, g, jsonify
from flask.views import MethodView
from marshmallow import fields, post_load
from sqlalchemy.orm import Session

from api import idempotency
from api.accept import accept_email, with_default_sender, with_template
from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import BadRequest
from api.schemas import (
    WRITTEN_AS_STRING,
    AddressList,
    BaseSchema,
    MessageFields,
    RecipientFields,
    envelope,
    send_request,
    success,
)
from api.storage_checks import check_attachments
from mailroom import metrics
from mailroom.content import final_content
from mailroom.specs import TemplateLoader
from render import Rendered, RenderError, render_template
from store.accept import Accepted
from store.request import SendRequest, render_content

bp = Blueprint("send", __name__, description="Send an email")


class SendRequestSchema(MessageFields, RecipientFields):
    """The body of `POST /send`, loaded as a `SendRequest`."""

    send_at = fields.AwareDateTime(data_key="sendAt", default_timezone=None)
    # False leaves out the sender's stored signature (see /senders/<address>/signature).
    signature = fields.Boolean(load_default=True)

    @post_load
    def _request(self, data: dict[str, Any], **_: Any) -> SendRequest:
        return send_request(data)


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
    @bp.doc(parameters=[idempotency.HEADER_PARAMETER])
    def post(self, request: SendRequest) -> Response:
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


def send_email(request: SendRequest, idem: idempotency.Idempotency | None = None) -> Sent:
    """Render, check, store and queue one loaded `SendRequestSchema` body.

    The one path of every `/send`-shaped request (`POST /send`, the Hasura `sendEmail` action),
    so they validate, store and answer alike. With `idem`, a key already used answers as it did.
    """
    session = db()

    def store(remember: idempotency.Remember) -> dict[str, Any]:
        checked = with_default_sender(request, "from")
        loader = TemplateLoader(session)
        started = time.perf_counter()
        checked, rendered = _render(checked, loader)
        metrics.RENDER_SECONDS.labels("api").observe(time.perf_counter() - started)
        check_attachments(current_app.extensions["mailroom.storage"], checked.attachments)
        answer: dict[str, Any] = {}

        def answer_and_remember(email: Accepted) -> None:
            # Before the commit: content that cannot be finished is a 400 and nothing is stored.
            answer.update(_SEND_RESPONSE.dump(_answer(email, _body(session, email, loader))))
            remember(answer, email.id)

        accept_email(session, checked, rendered, before_commit=answer_and_remember)
        return answer

    answer, replayed = idempotency.answer_once(session, idem, store)
    return Sent(answer, replayed)


def _body(session: Session, email: Accepted, loader: TemplateLoader) -> str | None:
    """`data.body`: the HTML as the worker will send it (brand, signature, inlined CSS), or the
    text of a text-only email; the same function builds both."""
    try:
        final = final_content(session, email, loader, derive_text=False)
    except RenderError as err:
        raise BadRequest(err.message) from err
    return final.html if final.html is not None else final.text


def _answer(email: Accepted, body: str | None) -> dict[str, Any]:
    """The success envelope for an accepted email: the contract's one message whatever the
    status (clients match on it); `data.status` says `queued`, `scheduled` or `suppressed`."""
    return success(
        "Email queued successfully",
        {
            "email_id": email.id,
            "template_id": email.template_id,
            "from_addr": email.from_addr,
            "to": list(email.to),
            "cc": list(email.cc),
            "bcc": list(email.bcc),
            "attachments": list(email.attachments),
            "body": body,
            "status": email.status.value,
        },
    )


def _render(request: SendRequest, loader: TemplateLoader) -> tuple[SendRequest, Rendered]:
    """Render once to validate (every template error is a 400 now) and to answer `body`.

    For a template, the request returned also takes the template's version, brand, brand
    default and static attachments (before its own), so the worker builds what was validated.
    """
    template_id = request.template_id
    try:
        if template_id is None:
            return request, render_content(request, loader.spec)
        spec = loader.spec(str(template_id))
        template = loader.row(str(template_id))
        if spec is None or template is None:
            raise BadRequest(f"Template `{template_id}` not found")
        rendered = render_template(spec, request.variables, lang=request.lang, lookup=loader.spec)
    except RenderError as err:
        raise BadRequest(err.message) from err
    return with_template(request, template), rendered
