"""An aiosmtpd server that records what it receives, or refuses it the way real servers do."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.net import free_port


@dataclass
class Received:
    """One message as the server saw it: envelope and parsed content."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage = field(init=False)
    # When the message arrived (time.time()), to measure send rates at the receiving end.
    at: float = field(init=False, default_factory=time.time)

    def __post_init__(self) -> None:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.message = parsed


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.sink.mode == "tempfail-rcpt":
            return "451 4.3.0 try again later"
        if address in self.sink.reject:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        if self.sink.mode == "shutdown":
            return "421 4.3.2 service shutting down"
        with self.sink.lock:
            self.sink.in_flight += 1
            self.sink.most_in_flight = max(self.sink.most_in_flight, self.sink.in_flight)
        try:
            if self.sink.latency:
                # A remote provider's answer time, without blocking the other sessions.
                await asyncio.sleep(self.sink.latency)
        finally:
            with self.sink.lock:
                self.sink.in_flight -= 1
        with self.sink.lock:
            self.sink.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
            )
        return "250 2.0.0 queued"


class SmtpSink:
    """`mode`: "accept" (default), "tempfail-rcpt" (451 on RCPT) or "shutdown" (421 after DATA)."""

    def __init__(self, mode: str = "accept", latency: float = 0.0) -> None:
        self.mode = mode
        # Seconds each message waits before its answer, as a remote provider's would.
        self.latency = latency
        self.in_flight = 0
        # The most messages the sink held unanswered at once: the sender's concurrency.
        self.most_in_flight = 0
        self.reject: set[str] = set()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        """Listen on 127.0.0.1:`port`."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        self._controller.stop()

    def by_header(self, name: str, value: str) -> list[Received]:
        """Messages whose header `name` equals `value`."""
        with self.lock:
            return [r for r in self.received if r.message.get(name) == value]
