"""The GoMail-compatible endpoint: GoMail's fields, uploads and answers on Mailroom's pipeline.

Clients written for GoMail keep working unchanged: the fields they sent, every uploaded file
attached, and `{"success", "message", "email_id"}` instead of the envelope. Errors raised here
or before the view runs (401, 405, 413, 429) get that shape from api/errors.py, by path.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, request
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
from sqlalchemy.orm import Session

from api import idempotency
from api.accept import accept_email, with_default_sender
from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import (
    GOMAIL_PREFIX,
    BadRequest,
    ServiceUnavailable,
    format_validation_messages,
)
from api.header_text import character_error, filename_error
from api.schemas import (
    Address,
    AddressList,
    BaseSchema,
    check_header_text,
    check_recipients,
    send_request,
)
from api.storage_checks import AttachmentsTooLarge
from models import Email
from render import Rendered
from storage import StorageError, clean_filename
from storage.hygiene import SNIFF_BYTES, AttachmentDenied, sniff_content_type
from store.accept import Accepted
from store.request import SendRequest

log = logging.getLogger(__name__)
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
        check_header_text("subject", data["subject"])
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
    409: "An `Idempotency-Key` already used with a different request",
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

    field: str
    filename: str
    data: bytes
    content_type: str


@bp.route(f"{GOMAIL_PREFIX}send-email/")
@bp.route(f"{GOMAIL_PREFIX}send-mail/", endpoint="GoMailSendAlias")
class GoMailSend(MethodView):
    """Queue one email, as GoMail's `send-email` did (`send-mail` is its alias)."""

    @require_scope("send")
    @bp.doc(
        parameters=[idempotency.HEADER_PARAMETER],
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
    def post(self) -> Any:
        """Validate, store the uploaded files, then the email, and queue it.

        In multipart, every file part (whatever its field name) is an attachment.
        """
        text_fields = _fields()
        try:
            loaded: SendRequest = GoMailRequestSchema().load(text_fields)
        except ValidationError as err:
            raise BadRequest("; ".join(format_validation_messages(err.messages))) from err
        loaded = with_default_sender(loaded, "from_address")
        uploads = _uploads()
        session = db()
        answer, replayed = idempotency.answer_once(
            session,
            idempotency.from_request(g.api_key.id, _fingerprint(text_fields, uploads)),
            lambda remember: _send(session, loaded, uploads, remember),
        )
        if replayed:
            return answer, 200, {"Idempotent-Replayed": "true"}
        return answer


def _send(
    session: Session, loaded: SendRequest, uploads: list[Upload], remember: idempotency.Remember
) -> dict[str, Any]:
    """Store the uploads, then the email, and queue it; the uploads go again if the email
    is not stored, so a failed request leaves no file behind."""
    # The uploads are named after the email, so they are stored before its row exists.
    email_id = uuid.uuid4()
    keys = _store(uploads, email_id)
    # GoMail's body is HTML as it is, not a template: `{{` in it stays `{{`.
    rendered = Rendered(subject=loaded.subject or "", html=loaded.html, text=None)
    committing = False

    def before_commit(email: Accepted) -> None:
        nonlocal committing
        remember(_answer(email.id), email.id)
        committing = True

    try:
        email = accept_email(
            session,
            loaded.but(attachments=tuple(keys)),
            rendered,
            email_id=email_id,
            before_commit=before_commit,
        )
    except BaseException:
        # Before the commit began nothing is stored; after, only the database can say.
        if not committing or not _stored(session, email_id):
            _remove(keys)
        raise
    return _answer(email.id)


def _stored(session: Session, email_id: uuid.UUID) -> bool:
    """Whether the email's row was committed before the error (its uploads are then its
    attachments). When the database cannot say, the uploads stay: the retention purge removes
    uploads that no email keeps."""
    try:
        session.rollback()
        return session.get(Email, email_id) is not None
    except Exception:  # noqa: BLE001 - the error being handled is the one to report
        log.warning("could not tell whether email %s was stored", email_id, exc_info=True)
        return True


def _answer(email_id: uuid.UUID) -> dict[str, Any]:
    """GoMail's success answer, as JSON."""
    return {"success": True, "message": "Email queued successfully", "email_id": str(email_id)}


def _fingerprint(text_fields: dict[str, Any], uploads: list[Upload]) -> dict[str, Any]:
    """What makes two requests the same, for `Idempotency-Key`: the fields and each file."""
    files = [[u.field, u.filename, hashlib.sha256(u.data).hexdigest()] for u in uploads]
    return {"fields": text_fields, "files": files}


def _fields() -> dict[str, Any]:
    """The text fields of a JSON object or a form (a form field given twice is a list)."""
    if request.mimetype in _FORM_TYPES:
        form = {
            name: values[0] if len(values) == 1 else values for name, values in request.form.lists()
        }
        # PostgreSQL refuses a NUL in any text (JSON bodies are checked in api/unicode_check.py).
        for name, values in request.form.lists():
            if any("\x00" in value for value in values):
                raise BadRequest(character_error(name, "\x00"))
        return form
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
    for field, upload in request.files.items(multi=True):
        data = upload.read()
        if not upload.filename and not data:
            continue  # a browser's file input left empty
        if error := filename_error(f"{field}.filename", upload.filename or ""):
            raise BadRequest(error)
        filename = clean_filename(upload.filename or "")
        content_type = sniff_content_type(data[:SNIFF_BYTES], filename)
        if content_type == "application/octet-stream" and upload.mimetype:
            content_type = upload.mimetype  # nothing better than what the client says
        try:
            policy.check_name(filename, filename)
            policy.check_type(filename, content_type)
        except AttachmentDenied as err:
            raise BadRequest(str(err)) from err
        uploads.append(Upload(field, filename, data, content_type))
    total, limit = sum(len(u.data) for u in uploads), current_app.config["MAX_ATTACHMENTS_BYTES"]
    if total > limit:
        raise AttachmentsTooLarge(
            f"attachments total {total} bytes, over the limit of {limit} bytes"
        )
    return uploads


def _store(uploads: list[Upload], email_id: uuid.UUID) -> list[str]:
    """Write each upload where every worker can read it; their keys, in upload order.

    If one cannot be written, those already written are removed.
    """
    storage = current_app.extensions["mailroom.storage"]
    folder = f"{current_app.config['UPLOADS_BUCKET']}/gomail/{email_id}"
    keys: list[str] = []
    for upload, filename in zip(uploads, _unique(u.filename for u in uploads), strict=True):
        key = f"{folder}/{filename}"
        try:
            storage.write(key, upload.data, upload.content_type)
        except StorageError as err:
            _remove(keys)
            raise ServiceUnavailable(f"object storage unavailable: {err}") from err
        keys.append(key)
    return keys


def _remove(keys: list[str]) -> None:
    """Delete uploads whose email was not stored; a failure is logged (nothing else refers to
    them) and does not hide the request's own error."""
    storage = current_app.extensions["mailroom.storage"]
    for key in keys:
        try:
            storage.delete(key)
        except StorageError:
            log.warning("could not remove upload %s of a failed request", key, exc_info=True)


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
