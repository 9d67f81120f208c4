"""The sandbox provider `test`: accepts every well-formed message and hands it to nobody.

Test-mode emails end here instead of at a real provider. The message is built exactly as SMTP
would carry it and returned in the `SendResult` (`raw`), for the caller to keep and show; nothing
is written, nothing is connected to, so it can never leave the machine.
"""

from __future__ import annotations

from providers.base import OutboundEmail, Provider, SendResult
from providers.errors import RejectedError
from providers.mime import message_bytes

SANDBOX = "test"


class SandboxProvider(Provider):
    """Builds the message and gives it back; its id is the message's own Message-ID."""

    name = SANDBOX

    def send(self, message: OutboundEmail) -> SendResult:
        """Accept the message as a real provider would, without handing it to anyone."""
        try:
            payload = message_bytes(message)
        except ValueError as err:
            # What a real provider would refuse is refused here too, so tests see it.
            raise RejectedError(str(err), provider=self.name) from err
        bare = message.message_id.strip().removeprefix("<").removesuffix(">")
        return SendResult(provider=self.name, message_id=bare, raw=payload)
