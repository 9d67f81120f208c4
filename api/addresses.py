"""Email address parsing: the forms the contract accepts, checked with email-validator."""

from __future__ import annotations

import re
from email.utils import formataddr, getaddresses, parseaddr

from email_validator import EmailNotValidError, validate_email

_SEPARATORS = re.compile(r"[,\s]+")


class AddressError(ValueError):
    """An address that cannot be used; the message is the contract's text."""


def invalid(address: str) -> AddressError:
    """The contract's error for a bad address."""
    return AddressError(f"`{address}` is not a valid email address")


def parse_address(raw: str) -> tuple[str, str]:
    """`"Name <addr>"` or `addr` -> (display name, normalized address); syntax only, no DNS."""
    if "\r" in raw or "\n" in raw:
        raise invalid(raw.replace("\r", "\\r").replace("\n", "\\n"))
    text = raw.strip()
    name, addr = parseaddr(text) if "<" in text else ("", text)
    if not addr:
        raise invalid(text)
    try:
        checked = validate_email(addr, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as err:
        raise invalid(addr) from err
    return name, checked.normalized


def format_address(raw: str) -> str:
    """One address in the canonical form we store and send."""
    name, addr = parse_address(raw)
    return formataddr((name, addr)) if name else addr


def split_addresses(value: str | list[str]) -> list[str]:
    """A string of addresses (commas or spaces between them) or a list -> each one, checked."""
    if isinstance(value, str):
        if "\r" in value or "\n" in value:
            raise invalid(value.replace("\r", "\\r").replace("\n", "\\n"))
        if "<" in value:
            pieces = [formataddr(pair) for pair in getaddresses([value]) if pair[1]]
            if not pieces:
                raise invalid(value)
        else:
            pieces = [p for p in _SEPARATORS.split(value) if p]
    else:
        pieces = [
            piece
            for item in value
            for piece in ([item] if "<" in item else _SEPARATORS.split(item))
            if piece
        ]
    result = [format_address(p) for p in pieces]
    return list(dict.fromkeys(result))


def bare_address(formatted: str) -> str:
    """The address part of `Name <addr>`, lower-cased for search."""
    return parseaddr(formatted)[1].lower()
