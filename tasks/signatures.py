"""Sender signatures: what an email from an address gets appended, fixed when it is accepted."""

from __future__ import annotations

from email.utils import parseaddr

from sqlalchemy.orm import Session

from models import SenderSignature


def signature_for(session: Session, from_addr: str) -> tuple[str | None, str | None]:
    """The `(html, text)` signature of the sender of `from_addr` (`Name <addr>` allowed)."""
    stored = session.get(SenderSignature, parseaddr(from_addr)[1].lower())
    if stored is None:
        return None, None
    return stored.html, stored.text
