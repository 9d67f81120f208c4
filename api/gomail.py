"""The GoMail-compatible endpoint: GoMail's fields, uploads and answers on Mailroom's pipeline.

Clients written for GoMail keep working unchanged: the fields they sent, every uploaded file
attached, and `{"success", "message", "email_id"}` instead of the envelope. Errors raised here
or before the view runs (401, 405, 413, 429) get that shape from api/errors.py, by path.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app, request
from flask.views import MethodView
from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from api.accept import accept_email, with_default_sender
from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import GOMAIL_PREFIX, BadRequest, ServiceUnavailable, format_validation_messages
from api.schemas import (
    Address,
    AddressList,
    BaseSchema,
    check_recipients,
    no_line_breaks,
    send_request,
)
from api.storage_checks import AttachmentsTooLarge
from render import Rendered
from storage import StorageError, clean_filename
from storage.hygiene import SNIFF_BYTES, AttachmentDenied, sniff_content_type
from store.request import SendRequest

bp = Blueprint(
    "gomail",
    __name__,
    description="GoMail-compatible sending: GoMail's fields and answer shape (no envelope)",
)

_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_OPTIONAL = ("from_address", "cc_addresses", "bcc_addresses")


class GoMailRequestSchema(BaseSchema):
    """GoMail's fields, loaded as the `SendRequest` `POST /send` makes (inline HTML only)."""

    from_addr = Address(data_key="from_address")
    to = AddressList(data_key="to_addresses", required=True)
    cc = AddressList(data_key="cc_addresses")
    bcc = AddressList(data_key="bcc_addresses")
    subject = fields.String(required=True, validate=validate.Length(min=1, max=998))
    html = fields.String(data_key="body", required=True, validate=validate.Length(min=1))

    @pre_load
    def _drop_empty(self, data: Any, **_: Any) -> Any:
        # An HTML form sends an empty field for "none": no cc, or the default sender.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (k in _OPTIONAL and v == "")}
        return data

    @validates_schema
    def _headers_and_recipients(self, data: dict[str, Any], **_: Any) -> None:
        no_line_breaks("subject", data["subject"])
        check_recipients(data, "to_addresses")

    @post_load
    def _request(self, data: dict[str, Any], **_: Any) -> SendRequest:
        return send_request(data)


class GoMailAnswerSchema(Schema):
    """GoMail's answer, success or error alike."""

    success = fields.Boolean(required=True)
    message = fields.String(required=True)
    email_id = fields.UUID(required=True, allow_none=True)


def _form_document(*, files: bool) -> dict[str, Any]:
    """A form body as OpenAPI: GoMail's text fields and, in multipart, any file part."""
    named = {field.data_key or name: field for name, field in GoMailRequestSchema().fields.items()}
    return {
        "schema": {
            "type": "object",
            "properties": {name: {"type": "string"} for name in named},
            "required": [name for name, field in named.items() if field.required],
            "additionalProperties": {"type": "string", "format": "binary"} if files else False,
        }
    }


_ERRORS = {
    400: "Bad input: a missing field, an invalid address, a refused file",
    401: "No API key, or an unknown one",
    403: "The key lacks the `send` scope",
    413: "The files exceed MAX_ATTACHMENTS_BYTES, or the body the request size limit",
    429: "Too many requests for this key",
    500: "Unexpected error (logged)",
    503: "Database or object storage unavailable: nothing was stored (a broker outage is a 200)",
}


def _document_errors(view: Any) -> Any:
    """Each error status, documented with GoMail's shape (not the envelope the others use)."""
    for status, description in _ERRORS.items():
        view = bp.alt_response(status, schema=GoMailAnswerSchema, description=description)(view)
    return view


@dataclass(frozen=True)
class Upload:
    """One uploaded file, checked and named, not yet stored."""

    filename: str
    data: bytes
    content_type: str


@bp.route(f"{GOMAIL_PREFIX}send-email/")
@bp.route(f"{GOMAIL_PREFIX}send-mail/", endpoint="GoMailSendAlias")
class GoMailSend(MethodView):
    """Queue one email, as GoMail's `send-email` did (`send-mail` is its alias)."""

    @require_scope("send")
    @bp.doc(
        requestBody={
            "required": True,
            "content": {
                "application/json": {"schema": GoMailRequestSchema},
                "multipart/form-data": _form_document(files=True),
                "application/x-www-form-urlencoded": _form_document(files=False),
            },
        },
        # Replaces flask-smorest's default error response, which is the envelope.
        responses={
            "default": {
                "description": "Any other error",
                "content": {"application/json": {"schema": GoMailAnswerSchema}},
            }
        },
    )
    @bp.response(200, GoMailAnswerSchema)
    @_document_errors
    def post(self) -> dict[str, Any]:
        """Validate, store the uploaded files, then the email, and queue it.

        In multipart, every file part (whatever its field name) is an attachment.
        """
        try:
            loaded: SendRequest = GoMailRequestSchema().load(_fields())
        except ValidationError as err:
            raise BadRequest("; ".join(format_validation_messages(err.messages))) from err
        loaded = with_default_sender(loaded, "from_address")
        uploads = _uploads()
        # The uploads are named after the email, so they are stored before its row exists.
        email_id = uuid.uuid4()
        loaded = loaded.but(attachments=tuple(_store(uploads, email_id)))
        # GoMail's body is HTML as it is, not a template: `{{` in it stays `{{`.
        rendered = Rendered(subject=loaded.subject or "", html=loaded.html, text=None)
        email = accept_email(db(), loaded, rendered, email_id=email_id)
        return {"success": True, "message": "Email queued successfully", "email_id": email.id}


def _fields() -> dict[str, Any]:
    """The text fields of a JSON object or a form (a form field given twice is a list)."""
    if request.mimetype in _FORM_TYPES:
        return {
            name: values[0] if len(values) == 1 else values for name, values in request.form.lists()
        }
    if request.is_json:
        body = request.get_json(silent=True)
        if body is None:
            raise BadRequest("the body is not valid JSON")
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        return body
    raise BadRequest("send the fields as application/json or multipart/form-data")


def _uploads() -> list[Upload]:
    """Every file part, checked against the attachment policy and the size limit."""
    policy = current_app.extensions["mailroom.attachment_policy"]
    uploads: list[Upload] = []
    for _, upload in request.files.items(multi=True):
        data = upload.read()
        if not upload.filename and not data:
            continue  # a browser's file input left empty
        filename = clean_filename(upload.filename or "")
        content_type = sniff_content_type(data[:SNIFF_BYTES], filename)
        if content_type == "application/octet-stream" and upload.mimetype:
            content_type = upload.mimetype  # nothing better than what the client says
        try:
            policy.check_name(filename, filename)
            policy.check_type(filename, content_type)
        except AttachmentDenied as err:
            raise BadRequest(str(err)) from err
        uploads.append(Upload(filename, data, content_type))
    total, limit = sum(len(u.data) for u in uploads), current_app.config["MAX_ATTACHMENTS_BYTES"]
    if total > limit:
        raise AttachmentsTooLarge(
            f"attachments total {total} bytes, over the limit of {limit} bytes"
        )
    return uploads


def _store(uploads: list[Upload], email_id: uuid.UUID) -> list[str]:
    """Write each upload where every worker can read it; their keys, in upload order."""
    storage = current_app.extensions["mailroom.storage"]
    folder = f"{current_app.config['UPLOADS_BUCKET']}/gomail/{email_id}"
    keys: list[str] = []
    for upload, filename in zip(uploads, _unique(u.filename for u in uploads), strict=True):
        key = f"{folder}/{filename}"
        try:
            storage.write(key, upload.data, upload.content_type)
        except StorageError as err:
            raise ServiceUnavailable(f"object storage unavailable: {err}") from err
        keys.append(key)
    return keys


def _unique(filenames: Iterable[str]) -> list[str]:
    """Two files of the same name in one email: `report.pdf`, then `report-2.pdf`."""
    seen: set[str] = set()
    result: list[str] = []
    for filename in filenames:
        stem, dot, suffix = filename.rpartition(".")
        if not stem:
            stem, dot, suffix = filename, "", ""
        candidate, n = filename, 1
        while candidate in seen:
            n += 1
            candidate = f"{stem}-{n}{dot}{suffix}"
        seen.add(candidate)
        result.append(candidate)
    return result
