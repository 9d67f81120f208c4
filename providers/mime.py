"""Turn an `OutboundEmail` into an RFC 5322 message with the standard library's `email` package.

Providers that speak SMTP, or that store raw messages (the outbox, a raw-MIME API), share this
one builder, so a message looks the same whichever provider carries it.
"""

from __future__ import annotations

import binascii
import email.policy
import random
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from email.header import Header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from providers.addresses import split_address
from providers.base import Attachment, OutboundEmail


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
# RFC 5322's recommended line length: longer lines (or any non-ASCII) go quoted-printable.
_MAX_7BIT_LINE = 78

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

# RFC 5322 field names: printable ASCII except the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]+")
_MIME_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*")


def build_mime(message: OutboundEmail, *, date: datetime | None = None) -> EmailMessage:
    """Build the MIME message for `message`; raise ValueError for anything that could inject."""
    _check_message(message)
    msg = EmailMessage(policy=POLICY)
    msg["From"] = message.from_addr
    if message.to:
        msg["To"] = ", ".join(message.to)
    if message.cc:
        msg["Cc"] = ", ".join(message.cc)
    if message.reply_to:
        msg["Reply-To"] = message.reply_to
    msg["Subject"] = message.subject
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = message.message_id
    for name, value in message.headers:
        msg[name] = value

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
    simple shape, so it is written directly: the same headers, parts and encodings, with RFC
    2047 encoding (the email package's own `Header`) only where a value is not ASCII or is too
    long for one line. Messages with attachments take the general path.
    """
    if message.attachments:
        return to_bytes(build_mime(message, date=date))
    _check_message(message)
    out: list[str] = []
    _header(out, "From", _addresses([message.from_addr]))
    if message.to:
        _header(out, "To", _addresses(message.to))
    if message.cc:
        _header(out, "Cc", _addresses(message.cc))
    if message.reply_to:
        _header(out, "Reply-To", _addresses([message.reply_to]))
    _header(out, "Subject", message.subject)
    _header(out, "Date", format_datetime(date or datetime.now(UTC)))
    _header(out, "Message-ID", message.message_id)
    for name, value in message.headers:
        _header(out, name, value)
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


def _addresses(values: Iterable[str]) -> str:
    """Addresses as `formataddr` writes them, display names RFC 2047-encoded when not ASCII."""
    formatted = []
    for value in values:
        name, addr = split_address(value)
        formatted.append(formataddr((name, addr), charset="utf-8") if name else addr)
    return ", ".join(formatted)


def _header(out: list[str], name: str, value: str) -> None:
    line = f"{name}: {value}"
    if len(line) <= _MAX_7BIT_LINE and value.isascii():
        out.append(line)
        return
    folded = _fold_ascii(name, value) if value.isascii() else None
    if folded is None:
        # RFC 2047 encoded words (utf-8, the shorter of Q and B), folded at 78 columns: also
        # for an ASCII word too long for a line, which encoded words can split.
        folded = f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    out.append(folded)


def _fold_ascii(name: str, value: str) -> str | None:
    """Fold before spaces to keep lines within 78 columns; None when a word is too long."""
    lines = [f"{name}:"]
    for word in value.split(" "):
        if len(lines[-1]) + 1 + len(word) <= _MAX_7BIT_LINE or not word or lines[-1] == f"{name}:":
            lines[-1] += " " + word
        else:
            lines.append(" " + word)
    if any(len(line) > _MAX_7BIT_LINE for line in lines):
        return None
    return "\r\n".join(lines)


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
    if data.isascii() and all(len(line) <= _MAX_7BIT_LINE for line in lines):
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
