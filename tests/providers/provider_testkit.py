"""Helpers for the provider tests: a message factory and real local SMTP servers, aiosmtpd for
well-behaved SMTP and a raw socket server for the misbehaviour aiosmtpd will not produce (a
greeting that refuses, a server gone silent).

Named uniquely rather than living in conftest.py so that test modules can import the types.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from providers.base import Attachment, OutboundEmail

MessageFactory = Callable[..., OutboundEmail]

# The address `make_message` sends from: the SES tests verify it, as moto refuses others.
SES_SENDER = "sender@example.com"


def make_message(**overrides: Any) -> OutboundEmail:
    """A complete message; tests override the fields they are about."""
    values: dict[str, Any] = {
        "from_addr": "Mailroom <sender@example.com>",
        "to": ("alice@example.com",),
        "cc": ("carol@example.com",),
        "bcc": ("bob-hidden@example.com",),
        "subject": "Your receipt",
        "message_id": "<receipt-1@mailroom.test>",
        "text": "Thanks for your order.",
        "html": "<p>Thanks for your order.</p>",
        "reply_to": "support@example.com",
        "headers": (("X-Campaign", "spring"),),
        "attachments": (Attachment("receipt.pdf", "application/pdf", b"%PDF-1.4 fake"),),
        "tags": ("tag-receipts",),
    }
    values.update(overrides)
    return OutboundEmail(**values)


def free_port() -> int:
    """A port nobody listens on right now (aiosmtpd's Controller cannot be given port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Received:
    peer: object  # (host, port): distinct per connection
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class RecordingHandler:
    """An aiosmtpd handler that records deliveries and answers what a test scripts."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.mail_reply: str | None = None
        self.rcpt_replies: dict[str, str] = {}
        self.data_reply: str | None = None
        # After the next delivery, hang up (optionally saying something first), as a server
        # does when it restarts or when an idle connection times out.
        self.hang_up_after_data: bytes | None = None
        self.hung_up = threading.Event()

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        assert isinstance(envelope.content, bytes)
        self.received.append(
            Received(
                session.peer, str(envelope.mail_from), list(envelope.rcpt_tos), envelope.content
            )
        )
        if self.hang_up_after_data is not None:
            last_words, self.hang_up_after_data = self.hang_up_after_data, None
            # Later than our "250", so the client sees this message accepted first.
            asyncio.get_running_loop().call_later(0.05, self._hang_up, server, last_words)
        return "250 2.0.0 Ok: queued as ABC123"

    def _hang_up(self, server: SMTP, last_words: bytes) -> None:
        assert server.transport is not None
        if last_words:
            server.transport.write(last_words)  # type: ignore[attr-defined]
        server.transport.close()
        self.hung_up.set()


@dataclass
class SmtpServer:
    handler: RecordingHandler
    port: int
    host: str = "127.0.0.1"


def password_authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """Accepts user `mailroom` with password `secret`."""
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"mailroom",
        b"secret",
    )
    # handled=False: aiosmtpd then answers the refusal itself (535).
    return AuthResult(success=ok, handled=False)


class RawSmtpServer:
    """A line-by-line SMTP server on a thread, able to refuse at greeting or to go silent."""

    def __init__(
        self,
        greeting: str = "220 raw.test ESMTP",
        hang_on: str | None = None,
        answer_after: float | None = None,
    ) -> None:
        self.greeting = greeting
        # "RCPT": never answer RCPT; "END-OF-DATA": take the message, never answer the dot.
        self.hang_on = hang_on
        # With `answer_after`, the silence ends with the usual answer after that many seconds:
        # a client without a working timeout then succeeds, and its test fails.
        self.answer_after = answer_after
        self.messages: list[bytes] = []
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                try:
                    self._session(conn)
                except OSError:
                    pass  # the client hung up; that is what several tests provoke

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        reader = conn.makefile("rb")
        conn.sendall(self.greeting.encode() + b"\r\n")
        if not self.greeting.startswith("2"):
            return
        while line := reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO", b"MAIL", b"RSET", b"NOOP"):
                conn.sendall(b"250 ok\r\n")
            elif verb == b"RCPT":
                if self.hang_on == "RCPT" and self._stop.wait(self.answer_after):
                    return
                conn.sendall(b"250 ok\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                data = bytearray()
                while (chunk := reader.readline()) != b".\r\n":
                    if not chunk:
                        return
                    data += chunk
                self.messages.append(bytes(data))
                if self.hang_on == "END-OF-DATA" and self._stop.wait(self.answer_after):
                    return
                conn.sendall(b"250 queued\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"502 not implemented\r\n")
