"""`/senders/<address>/signature`: the signature appended to every email from a sender.

Scope `templates`: a signature is stored content that ends up in emails, like a template.
An email takes the signature its sender has when it is accepted; a later edit changes only
emails accepted after it.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import ValidationError, fields, validate, validates_schema
from sqlalchemy.exc import IntegrityError

from api.addresses import AddressError, bare_address, format_address
from api.auth import require_scope
from api.blueprint import Blueprint
from api.db import db
from api.errors import BadRequest, NotFound
from api.schemas import BaseSchema, envelope, success
from models import SenderSignature

bp = Blueprint("signatures", __name__, description="Sender signatures")

MAX_SIGNATURE = 100_000


class SignatureInSchema(BaseSchema):
    """The body of `PUT /senders/<address>/signature`."""

    html = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=MAX_SIGNATURE)
    )
    text = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=MAX_SIGNATURE)
    )

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not (data.get("html") or "").strip() and not (data.get("text") or "").strip():
            raise ValidationError("a signature needs `html` or `text`")


class SignatureOutSchema(BaseSchema):
    """A stored signature."""

    address = fields.String()
    html = fields.String(allow_none=True)
    text = fields.String(allow_none=True)
    updated_at = fields.AwareDateTime(data_key="updatedAt")


def _address(raw: str) -> str:
    try:
        return bare_address(format_address(raw))
    except AddressError as err:
        raise BadRequest(str(err)) from err


def _get(address: str) -> SenderSignature:
    signature = db().get(SenderSignature, _address(address))
    if signature is None:
        raise NotFound(f"`{address}` has no signature")
    return signature


def _store(key: str, html: str | None, text: str | None) -> SenderSignature:
    """Create or replace the signature and commit."""
    signature = db().get(SenderSignature, key)
    if signature is None:
        signature = SenderSignature(address=key)
        db().add(signature)
    # Blank halves are stored as None: the renderer then derives them from the other half.
    signature.html, signature.text = html, text
    db().commit()
    return signature


@bp.route("/senders/<address>/signature")
class SignatureBySender(MethodView):
    """Set, read or remove a sender's signature."""

    @require_scope("templates")
    @bp.response(200, envelope("SignatureResponse", SignatureOutSchema))
    def get(self, address: str) -> dict[str, Any]:
        """The sender's signature."""
        return success("Signature found", _get(address))

    @require_scope("templates")
    @bp.arguments(SignatureInSchema)
    @bp.response(200, envelope("SignatureResponse", SignatureOutSchema))
    def put(self, data: dict[str, Any], address: str) -> dict[str, Any]:
        """Store the sender's signature; emails accepted from now on carry it."""
        key = _address(address)
        html = (data["html"] or "").strip() or None
        text = (data["text"] or "").strip() or None
        try:
            signature = _store(key, html, text)
        except IntegrityError:
            # A concurrent PUT created the row first: this one replaces it.
            db().rollback()
            signature = _store(key, html, text)
        return success("Signature stored", signature)

    @require_scope("templates")
    @bp.response(200, envelope("SignatureDeleted", SignatureOutSchema))
    def delete(self, address: str) -> dict[str, Any]:
        """Remove the sender's signature; emails already accepted keep theirs."""
        signature = _get(address)
        db().delete(signature)
        db().commit()
        return success("Signature deleted", signature)
