"""Marshmallow schemas shared by the API: the strict base, address fields, envelopes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import current_app
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from api.addresses import AddressError, format_address, split_addresses
from api.errors import format_validation_messages
from api.header_text import filename_error, header_text_error
from render import RenderError
from render.styles import check_custom_style
from store.request import SendRequest

_HEADER_NAME = re.compile(r"^X-[A-Za-z0-9-]+$")


def allowed_style(css: str | None) -> None:
    """A customStyle that breaks the policy is a 400 at the door, not a failed email later."""
    if css:
        try:
            check_custom_style(css)
        except RenderError as err:
            raise ValidationError(err.message) from err


class BaseSchema(Schema):
    """Unknown fields are an error, not silently dropped."""

    class Meta:
        unknown = RAISE


def check_header_text(name: str, value: str) -> None:
    """Refuse what no header may carry (api/header_text.py), naming the field `name`."""
    if error := header_text_error(name, value):
        raise ValidationError(error)


def check_attachment_keys(keys: Iterable[str], name: str = "attachments") -> None:
    """Each key, and the file name it ends in, fit for the attachment's header."""
    for index, key in enumerate(keys):
        field = f"{name}[{index}]"
        if error := header_text_error(field, key) or filename_error(field, key.rsplit("/", 1)[-1]):
            raise ValidationError(error)


def check_recipients(data: dict[str, Any], to_name: str) -> None:
    """At least one `to` address (the field is named `to_name`), at most MAX_RECIPIENTS in all."""
    if not data.get("to"):
        raise ValidationError(f"`{to_name}` needs at least one address", field_name=to_name)
    count = sum(len(data.get(kind) or []) for kind in ("to", "cc", "bcc"))
    most = current_app.config["MAX_RECIPIENTS"]
    if count > most:
        raise ValidationError(f"too many recipients: {count} (at most {most} per email)")


# How address lists are documented in answers: one comma-separated string.
WRITTEN_AS_STRING = {"type": "string", "example": "ann@example.com, bob@example.org"}


class AddressList(fields.Field[list[str]]):
    """A string of addresses separated by commas or spaces, or an array of them.

    Read as either form; written as one string, `"a@x.com, b@y.com"`, as the contract shows.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata",
            {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        )
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        if isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            try:
                return split_addresses(value)
            except AddressError as err:
                raise ValidationError(str(err)) from err
        raise ValidationError("must be a string or an array of strings")

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str:
        return ", ".join(value or [])


class Address(fields.String):
    """One address, `Name <addr>` allowed."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        try:
            return format_address(raw)
        except AddressError as err:
            raise ValidationError(str(err)) from err


class Headers(fields.Dict):
    """Extra MIME headers: `X-` names only, no line breaks in values."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            keys=fields.String(validate=validate.Length(max=100)),
            values=fields.String(validate=validate.Length(max=998)),
            validate=validate.Length(max=50),
            **kwargs,
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        headers = super()._deserialize(value, attr, data, **kwargs)  # type: ignore[no-untyped-call]
        for name, header_value in headers.items():
            if not _HEADER_NAME.match(name):
                raise ValidationError(f"header `{name}` is not allowed: only `X-` names")
            check_header_text(name, header_value)
        return headers


class Items(fields.List[Any]):
    """A list of objects whose first bad item is named as the contract does: `recipients[6].to`.

    Only the first, as a client fixes one thing at a time and a thousand lines help nobody.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as err:
            if not isinstance(err.messages, dict):
                raise
            index = min(err.messages)
            path = f"{self.data_key or attr}[{index}]"
            lines = format_validation_messages(err.messages[index], path, named=True)
            raise ValidationError(lines) from err


# The fields of a send, declared once: `POST /send` takes them all, a batch the message fields
# once and the recipient fields per recipient, so the two cannot come to check them apart.


class LocaleFields(BaseSchema):
    """What a message and each of its recipients may both set."""

    variables = fields.Dict(
        keys=fields.String(validate=validate.Length(max=100)),
        load_default=dict,
        validate=validate.Length(max=200),
    )
    lang = fields.String()


class RecipientFields(LocaleFields):
    """Whom one email goes to, and the values that are theirs."""

    to = AddressList(required=True)
    cc = AddressList()
    bcc = AddressList()

    @validates_schema
    def _recipients(self, data: dict[str, Any], **_: Any) -> None:
        check_recipients(data, "to")


class TrackingFields(BaseSchema):
    """`tracking`: which of opens and clicks to record; one left out takes the default."""

    opens = fields.Boolean(allow_none=True)
    clicks = fields.Boolean(allow_none=True)


class MessageFields(LocaleFields):
    """What an email says and how: content or template, sender, options."""

    template_id = fields.UUID(data_key="templateId", allow_none=True)
    subject = fields.String(validate=validate.Length(max=998))
    html = fields.String()
    text = fields.String()
    from_addr = Address(data_key="from")
    reply_to = Address(data_key="replyTo", allow_none=True)
    attachments = fields.List(
        fields.String(validate=validate.Length(max=1024)),
        load_default=list,
        validate=validate.Length(max=50),
    )
    brand_styles = fields.Boolean(data_key="brandStyles", load_default=None, allow_none=True)
    custom_style = fields.String(data_key="customStyle", allow_none=True, validate=allowed_style)
    headers = Headers(load_default=dict)
    # One-click unsubscribe headers: off by default on a send, on by default on a batch.
    unsubscribe = fields.Boolean(load_default=None, allow_none=True)
    tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=128)),
        load_default=list,
        validate=validate.Length(max=20),
    )
    providers = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)),
        load_default=None,
        validate=validate.Length(min=1, max=10, error="must name 1 to 10 providers"),
        metadata={
            "description": "this email's provider order instead of EMAIL_PROVIDERS "
            "(failover stays within it); each must be configured"
        },
    )
    tracking = fields.Nested(TrackingFields, allow_none=True)

    @validates_schema
    def _content(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("template_id") is None:
            if not data.get("subject") or not (data.get("html") or data.get("text")):
                raise ValidationError(
                    "`subject` and `html` or `text` are required when there is no `templateId`"
                )
        if "subject" in data:
            check_header_text("subject", data["subject"])
        for index, tag in enumerate(data.get("tags", ())):
            check_header_text(f"tags[{index}]", tag)
        check_attachment_keys(data.get("attachments", ()))
        tracking = data.get("tracking") or {}
        if any(tracking.values()) and not current_app.config.get("TRACKING_ENABLED"):
            raise ValidationError(
                "tracking is not configured here (MAILROOM_TRACKING_URL, MAILROOM_TRACKING_SECRET)",
                "tracking",
            )


def send_request(data: dict[str, Any]) -> SendRequest:
    """The frozen request of loaded send fields (any subset; the rest take their defaults)."""
    values = dict(data)
    for name in ("to", "cc", "bcc", "attachments", "tags"):
        if name in values:
            values[name] = tuple(values[name])
    if values.get("providers") is not None:
        values["providers"] = tuple(dict.fromkeys(values["providers"]))
    values["unsubscribe"] = "sender" if values.get("unsubscribe") else None
    values.setdefault("from_addr", None)
    values.setdefault("to", ())
    tracking = values.pop("tracking", None) or {}
    values["track_opens"] = tracking.get("opens")
    values["track_clicks"] = tracking.get("clicks")
    return SendRequest(**values)


class ErrorSchema(Schema):
    """The contract's error envelope."""

    status = fields.String(metadata={"example": "error"})
    message = fields.String(metadata={"example": "invalid request"})
    error = fields.String()


_ENVELOPES: dict[str, type[Schema]] = {}


def envelope(name: str, data_schema: type[Schema] | Schema) -> type[Schema]:
    """A success envelope schema `{status, message, data}` around `data_schema`.

    One class per name, so the OpenAPI document has one component per envelope.
    """
    if name in _ENVELOPES:
        return _ENVELOPES[name]
    _ENVELOPES[name] = Schema.from_dict(
        {
            "status": fields.String(metadata={"example": "success"}),
            "message": fields.String(),
            "data": fields.Nested(data_schema),
        },
        name=name,
    )
    return _ENVELOPES[name]


def success(message: str, data: Any) -> dict[str, Any]:
    """The success envelope's body."""
    return {"status": "success", "message": message, "data": data}
