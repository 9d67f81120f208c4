"""The header fields of a message, written and folded by hand, for both of `providers.mime`'s
writers.

Addresses and the Message-ID are never RFC 2047-encoded: only display names, the subject and
X- values are, and every field is folded between words (RFC 5322 section 2.2.3), never inside
an address. The email package cannot be trusted with this on Python 3.11: its folder encodes
the comma between two addresses after an encoded display name (`=?utf-8?q?=2C?=`, leaving one
unparseable address), and RFC 2047-encodes a long word of any field it does not know (a
List-Unsubscribe URL). It writes only what this module leaves to it: an address that is not a
plain dot-atom at an ASCII domain (a quoted local part, a domain literal).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from email.charset import Charset
from email.header import Header
from email.utils import format_datetime
from functools import lru_cache
from itertools import repeat
from typing import NamedTuple

from providers.addresses import split_address
from providers.base import OutboundEmail

# RFC 5322's recommended line length; RFC 2047's limit on one encoded word.
MAX_LINE = 78
_MAX_ENCODED_WORD = 75
_UTF8 = Charset("utf-8")

# The addresses written here: a dot-atom local part at an ASCII (IDNA) domain.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDR = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
# Display names written as they are: printable ASCII, single spaces, nothing that reads as an
# encoded word. RFC 5322 specials make them a quoted-string, as `formataddr` writes it.
_PLAIN_NAME = re.compile(r"[!-~]+(?: [!-~]+)*")
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_QUOTED_SPECIALS = re.compile(r'[\\"]')


class Field(NamedTuple):
    """One header field: its value, and the field folded into CRLF-separated lines (`name:`
    included), or None where the email package must write it."""

    name: str
    value: str
    folded: str | None


def header_fields(message: OutboundEmail, date: datetime) -> list[Field]:
    """Every field the builder writes before MIME-Version, in order; Bcc never."""
    fields = [_address_field("From", [message.from_addr])]
    if message.to:
        fields.append(_address_field("To", message.to))
    if message.cc:
        fields.append(_address_field("Cc", message.cc))
    if message.reply_to:
        fields.append(_address_field("Reply-To", [message.reply_to]))
    fields.append(_unstructured("Subject", message.subject))
    when = format_datetime(date)
    fields.append(Field("Date", when, f"Date: {when}"))
    fields.append(Field("Message-ID", message.message_id, fold("Message-ID", [message.message_id])))
    for name, value in message.headers:
        if is_extension(name):
            fields.append(_unstructured(name, value))
        else:
            fields.append(Field(name, value, fold(name, value.split(" "))))
    return fields


def is_extension(name: str) -> bool:
    """X- fields are free text that RFC 2047 may encode; any other field a caller adds
    (List-Unsubscribe, List-Unsubscribe-Post) is structured and sent as it is."""
    return name[:2].lower() == "x-"


def fold(name: str, words: Iterable[str], linesep: str = "\r\n") -> str:
    """`name: ` and the words joined by spaces, folded before a word that would pass column 78,
    also right after the colon. A word too long for any line stays whole on one (RFC 5322
    allows 998 characters)."""
    head = f"{name}:"
    lines = [head]
    for word in words:
        line = lines[-1]
        if (
            len(line) + 1 + len(word) <= MAX_LINE
            or not word  # a run of spaces: a line must not end up blank
            or (line == head and len(word) >= MAX_LINE)
        ):
            lines[-1] = f"{line} {word}"
        else:
            lines.append(f" {word}")
    return linesep.join(lines)


def _address_field(name: str, values: Sequence[str]) -> Field:
    words: list[str] = []
    for value in values:
        mailbox = _mailbox_words(value)
        if mailbox is None:
            return Field(name, ", ".join(values), None)
        if words:
            words[-1] += ","
        words.extend(mailbox)
    return Field(name, ", ".join(values), fold(name, words))


@lru_cache(maxsize=4096)
def _mailbox_words(value: str) -> tuple[str, ...] | None:
    """One mailbox as words that may be folded between: the display name, then `<addr>`,
    never encoded or split. A name that is not plain printable ASCII, or has a word too long
    for a line, becomes RFC 2047 encoded words (section 5: a phrase may be made of them, each
    of at most 75 characters). None for an address this module does not write."""
    name, addr = split_address(value)
    if not _PLAIN_ADDR.fullmatch(addr):
        return None
    if not name:
        return (addr,)
    words: Sequence[str] = ()
    if _PLAIN_NAME.fullmatch(name) and "=?" not in name:
        words = (_quoted(name) if _SPECIALS.search(name) else name).split(" ")
    if not words or max(len(word) for word in words) > _MAX_ENCODED_WORD:
        encoded = _UTF8.header_encode_lines(name, repeat(_MAX_ENCODED_WORD))
        words = [word for word in encoded if word]  # None only for a first length under 13
    return (*words, f"<{addr}>")


def _quoted(name: str) -> str:
    return '"' + _QUOTED_SPECIALS.sub(r"\\\g<0>", name) + '"'


def _unstructured(name: str, value: str) -> Field:
    """A Subject or an X- field: RFC 2047 encoded words only where the value is not ASCII or
    has a word too long for a line."""
    line = f"{name}: {value}"
    if len(line) <= MAX_LINE and value.isascii():
        return Field(name, value, line)
    if value.isascii():
        folded = fold(name, value.split(" "))
        if max(len(line) for line in folded.split("\r\n")) <= MAX_LINE:
            return Field(name, value, folded)
    # utf-8, the shorter of Q and B, folded at 78 columns: also for an ASCII word too long for
    # a line, which encoded words can split.
    encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return Field(name, value, f"{name}: {encoded}")
