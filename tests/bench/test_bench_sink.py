"""The benchmark's provider stand-in: it holds many messages at once during its delay (as a
remote provider does), tracks the marked ones, and speaks SendGrid's v3 Mail Send."""

from __future__ import annotations

import json
import smtplib
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bench.sink import (
    SENDGRID_KEY,
    TRACK_HEADER,
    Counter,
    _SmtpHandler,
    serve_sendgrid,
    stop_sendgrid,
)
from bench.workers import WorkerSpec, parse
from tests.support.net import free_port

# Long enough that every connection below is inside the delay together on a busy host.
LATENCY_MS = 1500


@pytest.fixture
def sink() -> Iterator[tuple[Counter, int, int]]:
    """(counter, SMTP port, SendGrid port) of a sink answering after LATENCY_MS."""
    counter = Counter(LATENCY_MS)
    smtp_port, sendgrid_port = free_port(), free_port()
    controller = Controller(_SmtpHandler(counter), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    server = serve_sendgrid(counter, controller.loop, sendgrid_port)
    try:
        yield counter, smtp_port, sendgrid_port
    finally:
        stop_sendgrid(server, controller.loop)
        controller.stop()


def message(email_id: str, tracked: bool) -> bytes:
    track = f"{TRACK_HEADER}: single\r\n" if tracked else ""
    return (
        f"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n"
        f"X-Mailroom-Email-Id: {email_id}\r\n{track}\r\nbody\r\n"
    ).encode()


def in_parallel(count: int, send: Any) -> None:
    threads = [threading.Thread(target=send, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def test_smtp_sessions_wait_together_and_marked_ones_are_tracked(
    sink: tuple[Counter, int, int],
) -> None:
    counter, smtp_port, _ = sink
    ids = [str(uuid.uuid4()) for _ in range(20)]

    def send(n: int) -> None:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.sendmail("a@example.com", ["b@example.com"], message(ids[n], n % 2 == 0))

    in_parallel(20, send)
    stats = counter.stats()
    assert stats["count"] == 20
    # A blocking delay would hold one message at a time.
    assert stats["max_in_flight"] == 20
    assert sorted(email_id for email_id, _ in counter.arrivals) == sorted(ids[0::2])


def sendgrid_post(port: int, payload: Any, key: str = SENDGRID_KEY) -> tuple[int, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v3/mail/send",
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("X-Message-Id") or ""
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def mail(email_id: str, tracked: bool) -> dict[str, Any]:
    headers = {"X-Mailroom-Email-Id": email_id, **({TRACK_HEADER: "single"} if tracked else {})}
    return {
        "personalizations": [{"to": [{"email": "b@example.com"}]}],
        "from": {"email": "a@example.com"},
        "subject": "hi",
        "content": [{"type": "text/plain", "value": "body"}],
        "headers": headers,
    }


def test_sendgrid_requests_wait_together(sink: tuple[Counter, int, int]) -> None:
    counter, _, port = sink
    ids = [str(uuid.uuid4()) for _ in range(10)]
    answers: list[tuple[int, str]] = []
    in_parallel(10, lambda n: answers.append(sendgrid_post(port, mail(ids[n], n < 3))))
    assert [status for status, _ in answers] == [202] * 10
    assert all(message_id for _, message_id in answers)
    assert counter.stats()["max_in_flight"] == 10
    assert sorted(email_id for email_id, _ in counter.arrivals) == sorted(ids[:3])


def test_sendgrid_refuses_what_sendgrid_refuses(sink: tuple[Counter, int, int]) -> None:
    counter, _, port = sink
    counter.latency_ms = 0
    assert sendgrid_post(port, mail(str(uuid.uuid4()), False), key="SG.wrong")[0] == 401
    status, body = sendgrid_post(port, {**mail(str(uuid.uuid4()), False), "content": []})
    assert status == 400
    assert "content" in body
    assert counter.stats()["count"] == 0


def test_worker_specs_parse() -> None:
    spec = parse("pool=threads,concurrency=50,queues=a+b,env:X=1,args=-O fair --prefetch 4")
    assert spec == WorkerSpec(
        pool="threads",
        concurrency=50,
        queues=("a", "b"),
        args=("-O", "fair", "--prefetch", "4"),
        env={"X": "1"},
    )
    command = spec.command("celery", "bench.noop", "n@%h")
    assert command[command.index("-Q") + 1] == "a,b"
    assert parse(spec.describe()) == spec
    with pytest.raises(ValueError, match="unknown worker setting"):
        parse("pools=threads")
