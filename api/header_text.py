"""One rule for text that ends up in a message header, checked where the request comes in.

An address, a display name, a subject, an `X-` header value, a tag or an attachment's file name
is written into a header line. A line break there starts a new header (injection); a NUL or
another control character is refused by PostgreSQL (a 500) or by the MIME writer in the worker
(an email that fails after a 200); U+2028 and U+2029 are line breaks to many readers. So every
schema asks the same question of each such value here, and a refusal names the field.

File names have two more rules: an RFC 2047 encoded word (`=?utf-8?b?...?=`) would be decoded
by mail clients into a name other than the one checked (`invoice.pdf` shown, `.exe` saved), and
bidirectional controls (U+202E) show a name backwards (`gpj.exe` as `exe.jpg`).
"""

from __future__ import annotations

import re

# C0 controls (TAB, CR and LF included), DEL, C1 controls, LINE and PARAGRAPH SEPARATOR.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_BREAKS = frozenset("\r\n\u2028\u2029")
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ENCODED_WORD = re.compile(r"=\?.*\?=", re.DOTALL)
_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def has_unsafe(value: str) -> bool:
    """Whether `value` holds a character no header may carry."""
    return _UNSAFE.search(value) is not None


def header_text_error(field: str, value: str) -> str | None:
    """Why `value` cannot go into a header, as a sentence naming `field`; None when it can."""
    found = _UNSAFE.search(value)
    if found is None:
        return None
    return character_error(field, found.group())


def character_error(field: str, char: str) -> str:
    """The refusal of `char` (one the rule refuses) in `field`."""
    if char in _LINE_BREAKS:
        return f"`{field}` must not contain line breaks"
    return f"`{field}` must not contain control characters ({_code(char)})"


def filename_error(field: str, filename: str) -> str | None:
    """Why `filename` cannot name an attachment, as a sentence naming `field`; None if it can."""
    if error := header_text_error(field, filename):
        return error
    if found := _BIDI.search(filename):
        return (
            f"`{field}` must not contain bidirectional control characters ({_code(found.group())})"
        )
    if _ENCODED_WORD.search(filename):
        return f"`{field}` must not contain an RFC 2047 encoded word (`=?...?=`)"
    return None


def shown(value: str) -> str:
    """`value` with every character the rule refuses spelled as an escape, to quote in an error."""
    return _UNSAFE.sub(lambda m: _ESCAPES.get(m.group(), _code_escape(m.group())), value)


def _code(char: str) -> str:
    return f"U+{ord(char):04X}"


def _code_escape(char: str) -> str:
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
