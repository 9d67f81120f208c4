"""An aiosmtpd sink that counts what it receives, in a process of its own.

Run: ``python -m bench.sink --smtp-port P --stats-port Q``. It accepts every message and keeps
no content: only a count, the arrival time of the first and last message, and, per message,
the `X-Mailroom-Email-Id` header's arrival time when asked to (for latency figures).

``GET http://127.0.0.1:Q/stats`` answers ``{"count": n, "first": t, "last": t}`` (time.time());
``POST /reset`` zeroes it; ``GET /arrivals`` lists ``[[email_id, t], ...]`` when tracked.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

_EMAIL_ID = re.compile(rb"^X-Mailroom-Email-Id: *([0-9a-f-]{36})", re.MULTILINE | re.IGNORECASE)


class Counter:
    """What the sink has seen; shared by the SMTP handler and the stats server."""

    def __init__(self, track_ids: bool) -> None:
        self.lock = threading.Lock()
        self.track_ids = track_ids
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None
        self.arrivals: list[tuple[str, float]] = []

    def add(self, data: bytes) -> None:
        now = time.time()
        found = _EMAIL_ID.search(data[:8192]) if self.track_ids else None
        with self.lock:
            self.count += 1
            self.first = self.first or now
            self.last = now
            if found:
                self.arrivals.append((found.group(1).decode(), now))

    def reset(self) -> None:
        with self.lock:
            self.count, self.first, self.last = 0, None, None
            self.arrivals = []

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"count": self.count, "first": self.first, "last": self.last}


class _Handler:
    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.counter.add(envelope.content)
        return "250 2.0.0 queued"


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
            counter.reset()
            self._answer(counter.stats())

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Stats)


def _blast(port: int, message: bytes, count: int) -> None:
    import smtplib

    with smtplib.SMTP("127.0.0.1", port) as client:
        for _ in range(count):
            client.sendmail("bench@example.com", ["ceiling@example.com"], message)


def ceiling(port: int, message: bytes, count: int = 4000, connections: int = 4) -> float:
    """Messages/s the sink accepts from bare smtplib clients, `connections` reused connections
    in processes of their own: the most any sender could reach here, for reading the bulk
    figures against. The caller resets the count afterwards."""
    from multiprocessing import get_context

    started = time.perf_counter()
    with get_context("spawn").Pool(connections) as pool:
        pool.starmap(_blast, [(port, message, count // connections)] * connections)
    return (count // connections * connections) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--stats-port", type=int, required=True)
    parser.add_argument("--track-ids", action="store_true")
    args = parser.parse_args()
    counter = Counter(args.track_ids)
    controller = Controller(_Handler(counter), hostname="127.0.0.1", port=args.smtp_port)
    controller.start()
    try:
        _stats_server(counter, args.stats_port).serve_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
