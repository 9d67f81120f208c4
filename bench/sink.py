"""A counting provider stand-in in a process of its own: an aiosmtpd SMTP sink and a SendGrid v3
Mail Send server on the same asyncio loop, answering each message after a set delay.

Run: ``python -m bench.sink --smtp-port P --stats-port Q [--sendgrid-port S] [--latency-ms 100]``.
It accepts every message and keeps no content: a count, the time of the first and last answer,
the most messages it held at once, and, for messages carrying the header ``X-Bench-Track``, when
their ``X-Mailroom-Email-Id`` was answered (for latency figures).

The delay is an ``await asyncio.sleep``: like a remote provider, the sink keeps answering other
connections while one message waits, so many senders in flight see the delay once, not in turn.
A message counts when it is answered (after the delay), as a provider's acceptance would.

``GET http://127.0.0.1:Q/stats`` answers ``{"count", "first", "last", "max_in_flight",
"latency_ms"}`` (times from time.time()); ``POST /reset`` zeroes it; ``POST /latency`` with
``{"ms": 100}`` changes the delay; ``GET /arrivals`` lists ``[[email_id, t], ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

# Looked up in the header block only (the first blank line ends it).
_EMAIL_ID = re.compile(rb"^X-Mailroom-Email-Id: *([0-9a-f-]{36})", re.MULTILINE | re.IGNORECASE)
_TRACKED = re.compile(rb"^X-Bench-Track:", re.MULTILINE | re.IGNORECASE)
TRACK_HEADER = "X-Bench-Track"


class Counter:
    """What the sink has seen; shared by the SMTP and HTTP handlers and the stats server."""

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.latency_ms = latency_ms
        self.count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.first: float | None = None
        self.last: float | None = None
        self.arrivals: list[tuple[str, float]] = []

    async def accept(self, tracked_id: str | None) -> None:
        """Hold one message for the delay, then count it as answered."""
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            delay = self.latency_ms / 1000
        try:
            if delay > 0:
                await asyncio.sleep(delay)
        finally:
            now = time.time()
            with self.lock:
                self.in_flight -= 1
                self.count += 1
                self.first = self.first or now
                self.last = now
                if tracked_id:
                    self.arrivals.append((tracked_id, now))

    def reset(self) -> None:
        with self.lock:
            self.count, self.first, self.last = 0, None, None
            self.max_in_flight = self.in_flight
            self.arrivals = []

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "count": self.count,
                "first": self.first,
                "last": self.last,
                "max_in_flight": self.max_in_flight,
                "latency_ms": self.latency_ms,
            }


def tracked_id(data: bytes) -> str | None:
    """The email id of a raw message that asks to be tracked, else None."""
    end = data.find(b"\r\n\r\n", 0, 16384)
    head = data[: end if end >= 0 else 16384]
    if not _TRACKED.search(head):
        return None
    found = _EMAIL_ID.search(head)
    return found.group(1).decode() if found else None


class _SmtpHandler:
    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await self.counter.accept(tracked_id(envelope.content))
        return "250 2.0.0 queued"


# -- SendGrid v3 Mail Send ---------------------------------------------------------------------

SENDGRID_KEY = "SG.bench-key"


def _validate(payload: Any) -> list[dict[str, str]]:
    # The tests' SendGrid server holds SendGrid's rules; the bench checks Mailroom against the
    # same ones (the import is lazy so that the sink runs where tests/ is not shipped).
    try:
        from tests.support.sendgrid_server import validate
    except ImportError:
        return []
    return validate(payload)


async def _sendgrid_request(
    counter: Counter, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool:
    """Answer one HTTP request; whether the connection may carry another."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, version = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    body = await reader.readexactly(int(headers.get("content-length") or 0))
    status, answer, extra = 202, b"", ""
    if method != "POST" or path != "/v3/mail/send":
        status, answer = 404, b'{"errors": [{"message": "not found", "field": null}]}'
    elif headers.get("authorization") != f"Bearer {SENDGRID_KEY}":
        status, answer = 401, b'{"errors": [{"message": "bad key", "field": null}]}'
    else:
        try:
            payload = json.loads(body)
            errors = _validate(payload)
        except ValueError:
            payload, errors = None, [{"message": "Bad Request", "field": ""}]
        if errors:
            status, answer = 400, json.dumps({"errors": errors}).encode()
        else:
            sent_headers = payload.get("headers") or {}
            track = TRACK_HEADER in sent_headers
            await counter.accept(sent_headers.get("X-Mailroom-Email-Id") if track else None)
            extra = f"X-Message-Id: {secrets.token_urlsafe(16)}\r\n"
    keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    writer.write(
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(answer)}\r\nConnection: {'keep-alive' if keep else 'close'}\r\n\r\n"
        .encode() + answer
    )  # fmt: skip
    await writer.drain()
    return keep


async def _sendgrid_connection(
    counter: Counter, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while await _sendgrid_request(counter, reader, writer):
            pass
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


def serve_sendgrid(counter: Counter, loop: asyncio.AbstractEventLoop, port: int) -> asyncio.Server:
    """Listen for SendGrid's Mail Send on `loop` (the SMTP controller's, in its thread)."""

    async def start() -> asyncio.Server:
        return await asyncio.start_server(
            lambda r, w: _sendgrid_connection(counter, r, w), "127.0.0.1", port, backlog=1024
        )

    return asyncio.run_coroutine_threadsafe(start(), loop).result(10)


def stop_sendgrid(server: asyncio.Server, loop: asyncio.AbstractEventLoop) -> None:
    """Stop listening (before the loop stops)."""

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)


# -- stats -------------------------------------------------------------------------------------


def _stats_server(counter: Counter, port: int) -> ThreadingHTTPServer:
    class Stats(BaseHTTPRequestHandler):
        def _answer(self, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:  # noqa: N802 - http.server's hook name
            if self.path == "/arrivals":
                with counter.lock:
                    self._answer(list(counter.arrivals))
            else:
                self._answer(counter.stats())

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/latency":
                with counter.lock:
                    counter.latency_ms = float(json.loads(body)["ms"])
            else:
                counter.reset()
            self._answer(counter.stats())

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Stats)


# -- the most the sink accepts -----------------------------------------------------------------


def _blast(
    port: int, message: bytes, count: int, threads: int, start_at: float
) -> tuple[float, float]:
    """Send `count` messages on each of `threads` connections, starting at `start_at`
    (time.time()) or once connected if later; (when sending started, when it ended)."""
    import smtplib

    clients = [smtplib.SMTP("127.0.0.1", port, timeout=60) for _ in range(threads)]

    def send_all(client: smtplib.SMTP) -> None:
        with client:
            for _ in range(count):
                client.sendmail("bench@example.com", ["ceiling@example.com"], message)

    workers = [threading.Thread(target=send_all, args=(client,)) for client in clients]
    time.sleep(max(0.0, start_at - time.time()))
    started = time.time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return started, time.time()


def ceiling(port: int, message: bytes, count: int = 4000, connections: int = 4) -> float:
    """Messages/s the sink accepts from bare smtplib clients over `connections` reused
    connections (in up to four processes of their own, threads beyond that): the most any
    sender could reach here with that many messages in flight, for reading the other figures
    against. The clients connect first and start together. The caller resets the count."""
    from multiprocessing import get_context

    processes = min(4, connections)
    threads = connections // processes
    per_connection = max(1, count // (processes * threads))
    # Spawning and importing takes a few seconds on a busy host; sending starts after that.
    start_at = time.time() + 3 + 0.01 * connections
    with get_context("spawn").Pool(processes) as pool:
        spans = pool.starmap(
            _blast, [(port, message, per_connection, threads, start_at)] * processes
        )
    return (
        per_connection * processes * threads / (max(e for _, e in spans) - min(s for s, _ in spans))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--stats-port", type=int, required=True)
    parser.add_argument("--sendgrid-port", type=int, default=0, help="0: no SendGrid server")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    counter = Counter(args.latency_ms)
    controller = Controller(_SmtpHandler(counter), hostname="127.0.0.1", port=args.smtp_port)
    controller.start()
    if args.sendgrid_port:
        serve_sendgrid(counter, controller.loop, args.sendgrid_port)
    try:
        _stats_server(counter, args.stats_port).serve_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
