"""Address parsing shared by the providers, memoized: the email package's parser is slow and
the same sender and recipients come back email after email (several times per message)."""

from __future__ import annotations

from email.utils import parseaddr
from functools import lru_cache


@lru_cache(maxsize=4096)
def split_address(value: str) -> tuple[str, str]:
    """`(display name, mailbox)` of one address, as `email.utils.parseaddr` reads it."""
    return parseaddr(value)
