"""Turn an `OutboundEmail` into an RFC 5322 message with the standard library's `email` package.

Providers that speak SMTP, or that store raw messages (the outbox, a raw-MIME API), share this
one builder, so a message looks the same whichever provider carries it. The header fields are
written by `providers.mime_headers` for both of its paths (see there why).
"""

from __future__ import annotations

import binascii
import email.policy
import random
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import Policy

from providers.addresses import split_address
from providers.base import Attachment, OutboundEmail
from providers.mime_headers import MAX_LINE, Field, header_fields, is_extension


class _CachedHeaderRegistry(HeaderRegistry):
    """The standard registry builds a new class for every header it parses (about 30 us each,
    a third of a message's build time); build each header's class once."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = super().__getitem__(name)
        return found


# CRLF line endings as SMTP wants them; 7bit so that non-ASCII bodies are sent quoted-printable
# and every server can relay them, with or without 8BITMIME.
POLICY = email.policy.SMTP.clone(cte_type="7bit", header_factory=_CachedHeaderRegistry())

# Headers the builder writes itself: letting `message.headers` set them again would duplicate
# them or, for Bcc, leak the hidden recipients to everyone.
RESERVED_HEADERS = frozenset(
    {
        "bcc",
        "cc",
        "content-disposition",
        "content-transfer-encoding",
        "content-type",
        "date",
        "from",
        "message-id",
        "mime-version",
        "reply-to",
        "subject",
        "to",
    }
)

# What a Message-ID may hold, and short enough for a line (RFC 5322 allows 998).
_MESSAGE_ID = re.compile(r"[!-~]{3,900}")

# RFC 5322 field names: printable ASCII except the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")
_MIME_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*")


class _Prefolded(str):
    """A field the email package writes as `providers.mime_headers` folded it: to `EmailPolicy`
    a value with a `name` is a header object, which folds itself."""

    name: str
    folded: str

    def __new__(cls, field: Field) -> _Prefolded:
        self = super().__new__(cls, field.value)
        self.name = field.name
        self.folded = field.folded or ""
        return self

    def fold(self, *, policy: Policy) -> str:
        """The field's lines and line separator, as `BaseHeader.fold` returns them."""
        return self.folded.replace("\r\n", policy.linesep) + policy.linesep


def build_mime(message: OutboundEmail, *, date: datetime | None = None) -> EmailMessage:
    """Build the MIME message for `message`; raise ValueError for anything that could inject."""
    _check_message(message)
    msg = EmailMessage(policy=POLICY)
    for field in header_fields(message, date or datetime.now(UTC)):
        msg[field.name] = field.value if field.folded is None else _Prefolded(field)
    msg["MIME-Version"] = "1.0"
    _set_body(msg, message.text, message.html)
    for attachment in message.attachments:
        _attach(msg, attachment)
    # EmailMessage gives every part it creates its own MIME-Version; only the top level needs it.
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]
    return msg


def to_bytes(msg: EmailMessage) -> bytes:
    """Serialize a built message with CRLF line endings, ready for SMTP DATA or a .eml file."""
    return msg.as_bytes(policy=POLICY)


def message_bytes(message: OutboundEmail, *, date: datetime | None = None) -> bytes:
    """The message as `to_bytes(build_mime(message))` would serialize it, faster.

    The email package's modern API parses and refolds every header it is given (about 2 ms of a
    3.5 ms message, most of a bulk send's CPU). A message without attachments has a fixed,
    simple shape, so it is written directly: the same fields (`providers.mime_headers`, as
    for the general path), parts and encodings. Messages with attachments, and addresses the
    field writer leaves to the email package, take the general path.
    """
    if message.attachments:
        return to_bytes(build_mime(message, date=date))
    _check_message(message)
    fields = header_fields(message, date or datetime.now(UTC))
    out = [field.folded for field in fields if field.folded is not None]
    if len(out) < len(fields):
        return to_bytes(build_mime(message, date=date))
    out.append("MIME-Version: 1.0")
    bodies = [
        (b, kind) for b, kind in ((message.text, "plain"), (message.html, "html")) if b is not None
    ]
    if len(bodies) < 2:
        out.extend(_text_part(*(bodies[0] if bodies else ("", "plain"))))
    else:
        parts = [_text_part(body, kind) for body, kind in bodies]
        boundary = _boundary(parts)
        out.append("Content-Type: multipart/alternative;")
        out.append(f' boundary="{boundary}"')
        out.append("")
        for part in parts:
            out.append(f"--{boundary}")
            out.extend(part)
        out.append(f"--{boundary}--")
        out.append("")
    return "\r\n".join(out).encode("ascii")


def _text_part(body: str, subtype: str) -> list[str]:
    """The header lines, a blank line and the body of one utf-8 text part (see _fill_text_part)."""
    cte, payload = _encode_text(body)
    lines = [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        f"Content-Transfer-Encoding: {cte}",
        "",
    ]
    lines.extend(payload.split("\n"))
    return lines


def _boundary(parts: list[list[str]]) -> str:
    """A boundary that appears in no part, as the email package picks them."""
    while True:
        boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="
        if not any(boundary in line for part in parts for line in part):
            return boundary


def _set_body(msg: EmailMessage, text: str | None, html: str | None) -> None:
    # Build exactly what the caller gave: deriving a text part from HTML is render/'s job.
    bodies = [(body, kind) for body, kind in ((text, "plain"), (html, "html")) if body is not None]
    if len(bodies) < 2:
        _fill_text_part(msg, *(bodies[0] if bodies else ("", "plain")))
        return
    msg["Content-Type"] = "multipart/alternative"
    for body, kind in bodies:
        part = EmailMessage(policy=POLICY)
        _fill_text_part(part, body, kind)
        msg.attach(part)


def _fill_text_part(part: EmailMessage, body: str, subtype: str) -> None:
    """A utf-8 text part: 7bit when it is short-lined ASCII, else quoted-printable.

    What `set_content` does, but its quoted-printable encoder is pure Python (about 10 ms for
    10 KB); binascii's is C and produces the same encoding.
    """
    cte, payload = _encode_text(body)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = cte
    part.set_payload(payload)


def _encode_text(body: str) -> tuple[str, str]:
    """(Content-Transfer-Encoding, payload with \\n line ends) of a utf-8 text body."""
    lines = body.encode("utf-8").splitlines()
    # As set_content: normalized line ends, and the body always ends with one.
    data = b"\n".join(lines) + b"\n"
    if data.isascii() and all(len(line) <= MAX_LINE for line in lines):
        return "7bit", data.decode("ascii")
    return "quoted-printable", binascii.b2a_qp(data, istext=True).decode("ascii")


def _attach(msg: EmailMessage, attachment: Attachment) -> None:
    if not _MIME_TYPE.fullmatch(attachment.content_type):
        raise ValueError(f"invalid attachment content type: {attachment.content_type!r}")
    maintype, subtype = attachment.content_type.lower().split("/", 1)
    # The email package encodes non-ASCII filenames with RFC 2231 (filename*=utf-8''...).
    msg.add_attachment(
        attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
    )


def _check_message(message: OutboundEmail) -> None:
    if not (message.message_id.startswith("<") and message.message_id.endswith(">")):
        raise ValueError(f"message_id must be in angle brackets: {message.message_id!r}")
    if not _MESSAGE_ID.fullmatch(message.message_id):
        raise ValueError(
            f"message_id must be printable ASCII without spaces: {message.message_id!r}"
        )
    _check_values("from_addr", [message.from_addr])
    _check_values("to", message.to)
    _check_values("cc", message.cc)
    _check_values("bcc", message.bcc)
    _check_values("reply_to", [message.reply_to or ""])
    _check_ascii_addresses(
        [message.from_addr, *message.recipients, *([message.reply_to] if message.reply_to else [])]
    )
    _check_values("subject", [message.subject])
    _check_values("message_id", [message.message_id])
    _check_values("attachment filename", [a.filename for a in message.attachments])
    for name, value in message.headers:
        if not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"invalid header name: {name!r}")
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"header {name!r} is set by the builder and cannot be overridden")
        _check_values(f"header {name}", [value])
        if not is_extension(name) and not value.isascii():
            raise ValueError(f"header {name!r} is not an X- header and must be ASCII: {value!r}")


def _check_ascii_addresses(addresses: Iterable[str]) -> None:
    # Display names may be anything (RFC 2047 encodes them), but a non-ASCII mailbox needs
    # SMTPUTF8 end to end, which this builder and the SMTP provider do not do.
    for address in addresses:
        if not split_address(address)[1].isascii():
            raise ValueError(f"non-ASCII email addresses are not supported: {address!r}")


# Every character str.splitlines() breaks on: any of them in a header would end it for some
# reader (the email package refuses them all when it builds headers).
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _check_values(field: str, values: Iterable[str]) -> None:
    for value in values:
        if not _LINE_BREAKS.isdisjoint(value):
            raise ValueError(f"{field} contains a line break: {value!r}")
