"""Helpers for the provider tests: a message factory and real local SMTP servers, aiosmtpd for
well-behaved SMTP and a raw socket server for the misbehaviour aiosmtpd will not produce (a
greeting that refuses, a server gone silent).

Named uniquely rather than living in conftest.py so that test modules can import the types.
"""

from __future__ import annotations

import asyncio
import email
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.utils import getaddresses
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


# Inputs that once made the direct writer RFC 2047-encode whole address and Message-ID headers
# (issue 17): any word too long for a line did. Both writers must keep every address parseable.
LONG_LOCAL = "a" * 64
LONG_DOMAIN = ("sub-domain-" * 5) + "example.com"
HARD_CASES: dict[str, dict[str, object]] = {
    "cjk display name": {"from_addr": "山田太郎山田太郎山田太郎山田太郎 <taro@example.com>"},
    "long accented name": {"to": ("Ünïcödé Nâmé " * 8 + "<u@example.com>",)},
    "long ascii name": {"to": ("Very Long Display Name " * 6 + "<v@example.com>",)},
    "long quoted name": {"to": ('"Doe, John Jacob Jingleheimer Schmidt (the Third) of Longnames"'
                                " <doe@example.com>",)},
    "one long ascii word as name": {"cc": ("N" * 90 + " <n@example.com>",)},
    "name with quotes and backslash": {"reply_to": '"Say \\"hi\\" \\\\ bye" <hi@example.com>'},
    "80-character address": {"to": (f"{LONG_LOCAL}@{'b' * 15}.com",)},
    "long local part and domain": {"to": (f"Long <{LONG_LOCAL}@{LONG_DOMAIN}>",),
                                   "cc": (f"{LONG_LOCAL}@{LONG_DOMAIN}",)},
    "long sender domain": {"from_addr": f"Shop <noreply@{LONG_DOMAIN}>",
                           "message_id": f"<0123456789abcdef0123456789abcdef@{LONG_DOMAIN}>"},
    "message id of a 28-character domain": {
        "message_id": "<7f3c9a52-5d1e-4a6a-9d7e-9b3c1f2d4e5f@abcdefghijklmnopqrstuvwxyz12.test>"
    },
    "idn domains": {"from_addr": "Bücher <info@xn--bcher-kva.example>",
                    "to": ("user@xn--fsqu00a.xn--3lr804guic", "Ø <o@xn--mnchen-3ya.de>")},
    "many recipients": {
        "to": tuple(f"Recipient Number {i} <recipient.{i}@example.com>" for i in range(40)),
        "cc": tuple(f"Ünï {i} <cc{i}@example.org>" for i in range(15)) + ("plain@example.net",),
    },
    "long words in subject and x- headers": {
        "subject": "Order " + "b" * 100 + " shipped",
        "headers": (("X-Long", "y" * 100), ("X-Cjk", "注文" * 30), ("X-Mixed", "ok " + "z" * 90)),
    },
    "list-unsubscribe is never encoded": {
        "headers": (
            ("List-Unsubscribe", "<https://mail.example.com/u/" + "t" * 90 + ">, "
                                 "<mailto:unsubscribe@example.com?subject=" + "s" * 40 + ">"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
    },
}  # fmt: skip


def rfc_addresses(raw: bytes, header: str) -> list[tuple[str, str]]:
    """(display name, address) pairs as RFC 5322 and RFC 2047 read them: unfolded, encoded words
    decoded with the whitespace between them dropped (the modern parser of Python 3.11 keeps a
    space there, so its display names depend on where a writer split a name)."""
    compat = email.message_from_bytes(raw)  # compat32: the raw header values
    values = [re.sub(r"\r?\n(?=[ \t])", "", v) for v in compat.get_all(header, [])]
    return [(str(make_header(decode_header(name))), addr) for name, addr in getaddresses(values)]


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
