"""The provider interface: an `OutboundEmail` in, a `SendResult` or a `ProviderError` out.

Values that cross this boundary are frozen dataclasses of plain data, so providers know nothing
of HTTP, Celery or the database and can be lifted into another project as they are.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Attachment:
    """One file attached to a message; `content_type` is already decided by the caller."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class OutboundEmail:
    """A fully rendered message, ready for any provider.

    `message_id` is fixed by the caller (with angle brackets) so that every attempt of one email,
    on any provider, carries the same Message-ID. `bcc` recipients receive the message but never
    appear in its headers.
    """

    from_addr: str
    to: tuple[str, ...]
    subject: str
    message_id: str
    html: str | None = None
    text: str | None = None
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every envelope recipient: to, cc and bcc, in that order."""
        return self.to + self.cc + self.bcc


@dataclass(frozen=True)
class SendResult:
    """A provider accepted the message; `message_id` is the provider's own id for it."""

    provider: str
    message_id: str
    # Recipients the provider refused while accepting the others: address -> reason.
    rejected: Mapping[str, str] = field(default_factory=dict)
    # The message as the provider kept it, from a provider that keeps it for reading back (the
    # sandbox); None from every provider that hands it on.
    raw: bytes | None = field(default=None, repr=False)


class Provider(ABC):
    """One way of handing a message to the outside world."""

    name: str

    @abstractmethod
    def send(self, message: OutboundEmail) -> SendResult:
        """Hand the message over, or raise a `ProviderError` subclass that says what happened."""

    def close(self) -> None:  # noqa: B027 - optional hook, most providers hold nothing
        """Release connections held between sends."""
