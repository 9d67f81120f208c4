"""A DNS server on loopback for tests, made with dnslib: fixed TXT records, NXDOMAIN elsewhere
(or SERVFAIL for everything), and a log of the questions it was asked."""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Resolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, records: dict[str, list[str]], servfail: bool) -> None:
        self.records = {name.lower().rstrip("."): values for name, values in records.items()}
        self.servfail = servfail
        self.asked: list[tuple[str, str]] = []

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        self.asked.append((QTYPE[request.q.qtype], name))
        if self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
        elif name not in self.records:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for value in self.records[name]:
                # A TXT string holds 255 bytes at most; longer records are several strings.
                data = value.encode()
                chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
                reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        return reply


class FixedDns:
    """`with FixedDns({"example.com": ["v=spf1 -all"]}) as server:` then ask `server.address`."""

    def __init__(self, records: dict[str, list[str]], *, servfail: bool = False) -> None:
        self.resolver = _Resolver(records, servfail)
        self.port = free_udp_port()
        self.address = f"127.0.0.1:{self.port}"
        quiet = DNSLogger(log="-request,-reply,-truncated,-error", logf=lambda _: None)
        self._server = DNSServer(self.resolver, address="127.0.0.1", port=self.port, logger=quiet)

    @property
    def asked(self) -> list[tuple[str, str]]:
        """(type, name) of every question, in order."""
        return self.resolver.asked

    def __enter__(self) -> FixedDns:
        self._server.start_thread()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()
        self._server.server.server_close()  # dnslib's stop leaves the socket open
        self._server.thread.join(timeout=5)
