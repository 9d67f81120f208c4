"""`POST /send/batch`: one template (or inline content) to up to 1,000 recipients.

Everything is validated first: an error names the index of the bad recipient and stores
nothing. Then every email is written in one transaction and published in chunks of a hundred
per task message, so the request never waits for 1,000 renders or 1,000 publishes: template
emails are rendered by the workers (inline content, compiled once, is rendered here).
A `listId` instead of recipients sends to a stored list from a task that pages through it.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app, g
from flask.views import MethodView
from kombu.exceptions import KombuError
from marshmallow import ValidationError, fields, validate, validates_schema

from api.accept import apply_default_sender
from api.addresses import AddressError, split_addresses
from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.email_records import create_emails
from api.errors import BadRequest, NotFound, ServiceUnavailable
from api.schemas import Address, BaseSchema, Headers, envelope, no_line_breaks, success
from api.storage_checks import check_attachments
from mailroom.specs import TemplateLoader
from models import EmailStatus
from render import Rendered, RenderError, TemplateSpec, check_variables, render_inline
from store.schedule import forget_publish
from tasks.publish import PublishError, publish_batches

bp = Blueprint("batch", __name__, description="Send one message to many recipients")
MAX_RECIPIENTS = 1000
UNRENDERED = Rendered(subject="", html=None, text=None)


class BatchRecipientSchema(BaseSchema):
    """One recipient: addresses are checked by the view, to name the index."""

    to = fields.Raw(required=True)
    cc = fields.Raw()
    bcc = fields.Raw()
    variables = fields.Dict(keys=fields.String(), load_default=dict)
    lang = fields.String()


class BatchRequestSchema(BaseSchema):
    """The body of `POST /send/batch`."""

    template_id = fields.UUID(data_key="templateId", allow_none=True)
    subject = fields.String(validate=validate.Length(max=998))
    html = fields.String()
    text = fields.String()
    from_addr = Address(data_key="from")
    reply_to = Address(data_key="replyTo", allow_none=True)
    lang = fields.String()
    variables = fields.Dict(keys=fields.String(), load_default=dict)
    attachments = fields.List(fields.String(), load_default=list, validate=validate.Length(max=50))
    brand_styles = fields.Boolean(data_key="brandStyles", load_default=None, allow_none=True)
    custom_style = fields.String(data_key="customStyle", allow_none=True)
    headers = Headers(load_default=dict)
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=128)), load_default=list)
    recipients = fields.List(
        fields.Nested(BatchRecipientSchema), validate=validate.Length(min=1, max=MAX_RECIPIENTS)
    )
    list_id = fields.UUID(data_key="listId")

    @validates_schema
    def _shape(self, data: dict[str, Any], **_: Any) -> None:
        if ("recipients" in data) == ("list_id" in data):
            raise ValidationError("give either `recipients` or `listId`")
        if data.get("template_id") is None:
            if not data.get("subject") or not (data.get("html") or data.get("text")):
                raise ValidationError(
                    "`subject` and `html` or `text` are required when there is no `templateId`"
                )
        if "subject" in data:
            no_line_breaks("subject", data["subject"])


class BatchAnswerSchema(BaseSchema):
    """What a batch answers."""

    batch_id = fields.UUID(data_key="batchId")
    email_ids = fields.List(fields.UUID(), data_key="emailIds")
    count = fields.Integer()
    suppressed = fields.Integer()
    list_id = fields.UUID(data_key="listId", allow_none=True)
    status = fields.String()


def _addresses(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str | list) or (
        isinstance(value, list) and not all(isinstance(v, str) for v in value)
    ):
        raise BadRequest(f"`{where}`: must be a string or an array of strings")
    try:
        return split_addresses(value)
    except AddressError as err:
        raise BadRequest(f"`{where}`: {err}") from err


def _recipient_request(
    shared: dict[str, Any], recipient: dict[str, Any], index: int, spec: TemplateSpec | None
) -> dict[str, Any]:
    """The send request of one recipient: the shared fields with its own on top."""
    where = f"recipients[{index}]"
    request = dict(shared)
    for kind in ("to", "cc", "bcc"):
        request[kind] = _addresses(recipient.get(kind), f"{where}.{kind}")
    if not request["to"]:
        raise BadRequest(f"`{where}.to` needs at least one address")
    count = sum(len(request[k]) for k in ("to", "cc", "bcc"))
    if count > current_app.config["MAX_RECIPIENTS"]:
        raise BadRequest(f"`{where}`: too many recipients: {count}")
    request["variables"] = {**shared["variables"], **recipient["variables"]}
    request["lang"] = recipient.get("lang", shared.get("lang"))
    return request


@bp.route("/send/batch")
class SendBatch(MethodView):
    """Many emails, one request."""

    @require_scope("send")
    @bp.arguments(BatchRequestSchema)
    @bp.response(200, envelope("BatchResponse", BatchAnswerSchema))
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Validate every recipient, store every email at once, publish them in chunks."""
        session = db()
        apply_default_sender(data, "from")
        loader = TemplateLoader(session)
        spec = None
        if data.get("template_id") is not None:
            spec = loader.spec(str(data["template_id"]))
            template = loader.row(str(data["template_id"]))
            if spec is None or template is None:
                raise BadRequest(f"Template `{data['template_id']}` not found")
            data["template_version"] = template.version
            data["brand_id"] = template.brand_id
            if data.get("brand_styles") is None:
                data["brand_styles"] = template.brand_styles
            data["attachments"] = list(dict.fromkeys([*template.attachments, *data["attachments"]]))
        check_attachments(current_app.extensions["mailroom.storage"], data["attachments"])
        batch_id = uuid.uuid4()
        data["tags"] = [*data["tags"], f"batch:{batch_id}"]
        if "list_id" in data:
            return success("List send queued", _queue_list(data, batch_id, spec))

        requests: list[tuple[dict[str, Any], Rendered]] = []
        for index, recipient in enumerate(data["recipients"]):
            request = _recipient_request(data, recipient, index, spec)
            try:
                if spec is not None:
                    check_variables(spec, request["variables"], lookup=loader.spec)
                    rendered = UNRENDERED
                else:
                    rendered = render_inline(
                        data["subject"],
                        data.get("html"),
                        data.get("text"),
                        request["variables"],
                        lookup=loader.spec,
                        lang=request["lang"],
                    )
            except RenderError as err:
                raise BadRequest(f"`recipients[{index}]`: {err.message}") from err
            requests.append((request, rendered))

        emails = create_emails(session, requests, correlation_id=g.correlation_id)
        session.commit()
        queued = [e.id for e in emails if e.status == EmailStatus.QUEUED]
        try:
            publish_batches(queued)
        except PublishError as err:
            forget_publish(session, err.unpublished)
            session.commit()
            raise ServiceUnavailable(
                f"broker unavailable: batch {batch_id} ({len(emails)} emails) is stored and "
                "will be sent once the broker is back"
            ) from err
        return success(
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


def _queue_list(data: dict[str, Any], batch_id: uuid.UUID, spec: TemplateSpec | None) -> Any:
    """Hand a list send to a task that pages through the members."""
    from models import RecipientList
    from tasks.list_send import send_list

    recipient_list = db().get(RecipientList, data["list_id"])
    if recipient_list is None:
        raise NotFound(f"List `{data['list_id']}` not found")
    if spec is not None:
        try:
            check_variables(spec, data["variables"], lookup=TemplateLoader(db()).spec)
        except RenderError as err:
            if "is required" not in err.message:  # members' columns may supply it
                raise BadRequest(err.message) from err
    payload = {
        key: (str(value) if isinstance(value, uuid.UUID) else value)
        for key, value in data.items()
        if key not in {"recipients", "list_id"}
    }
    try:
        send_list.apply_async((str(batch_id), str(data["list_id"]), payload))
    except (KombuError, OSError) as err:
        raise ServiceUnavailable(f"broker unavailable: list send {batch_id} not queued") from err
    return {
        "batch_id": batch_id,
        "email_ids": [],
        "count": recipient_list.member_count,
        "suppressed": 0,
        "list_id": data["list_id"],
        "status": "queued",
    }
