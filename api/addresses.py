"""Email address parsing: the forms the contract accepts, checked with email-validator."""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.headerregistry import Address as HeaderAddress
from email.utils import getaddresses, parseaddr
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from api.header_text import has_unsafe, shown

_SEPARATORS = re.compile(r"[,\s]+")


class AddressError(ValueError):
    """An address that cannot be used; the message is the contract's text."""


def invalid(address: str) -> AddressError:
    """The contract's error for a bad address."""
    return AddressError(f"`{address}` is not a valid email address")


# A pure function of its arguments (the checks read no settings), and the same few addresses come
# back request after request: each is checked once per process. Refusals raise, so they are not
# kept and cost their check every time.
@lru_cache(maxsize=4096)
def _checked(name: str, addr: str, raw: str) -> str:
    """`Name <addr>` or `addr`, after checking both; any defect is the contract's 400."""
    if not addr:
        raise invalid(raw)
    try:
        # No SMTPUTF8: a non-ASCII local part cannot travel through every provider, while an
        # internationalized domain can, as its ASCII (IDNA) form.
        checked = validate_email(addr, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as err:
        raise invalid(addr) from err
    ascii_addr = checked.ascii_email or checked.normalized
    if not name:
        return ascii_addr
    if any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF for ch in name):
        raise invalid(raw)
    try:
        return str(HeaderAddress(display_name=name, addr_spec=ascii_addr))
    except (ValueError, HeaderParseError) as err:  # header defects are ValueErrors
        raise invalid(raw) from err


def format_address(raw: str) -> str:
    """One address, `Name <addr>` or `addr`, in the canonical form we store and send."""
    if has_unsafe(raw):
        raise invalid(shown(raw))
    text = raw.strip()
    name, addr = parseaddr(text) if "<" in text else ("", text)
    return _checked(name, addr, text)


def split_addresses(value: str | list[str]) -> list[str]:
    """A string of addresses (commas or spaces between them) or a list -> each one, checked."""
    if isinstance(value, str):
        if has_unsafe(value):
            raise invalid(shown(value))
        if "<" in value:
            pairs = getaddresses([value])
            result = [_checked(name, addr, value) for name, addr in pairs if name or addr]
            if not result:
                raise invalid(value)
            return list(dict.fromkeys(result))
        pieces = [p for p in _SEPARATORS.split(value) if p]
        return list(dict.fromkeys(format_address(p) for p in pieces))
    # Each item of a list is itself a string of one or more addresses.
    return list(dict.fromkeys(a for item in value for a in split_addresses(item)))


def bare_address(formatted: str) -> str:
    """The address part of `Name <addr>`, lower-cased for search."""
    return parseaddr(formatted)[1].lower()
