"""The production topology: rendering on prefork processes, sending on a threads pool that
keeps many sends in flight, transactional and bulk mail on lanes of their own."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]
# Each message waits this long at the sink, as at a remote provider.
LATENCY = 0.4
SEND_CONCURRENCY = 16


@pytest.fixture
def slow_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(latency=LATENCY).start()
    yield sink
    sink.stop()


def start_lanes(stack: Stack, sink: SmtpSink) -> None:
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port),
            "MAILROOM_RATE_LIMIT": "",
            "MAILROOM_SEND_CONCURRENCY": str(SEND_CONCURRENCY),
        }
    )
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker("cpu", concurrency=2, lanes=("", ".bulk"))
    stack.start_worker(
        "sender", concurrency=SEND_CONCURRENCY, pool="threads", lanes=(".send", ".bulk.send")
    )


def wait_for(sink: SmtpSink, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(sink.received) < n and time.monotonic() < deadline:
        time.sleep(0.25)


def test_single_sends_travel_the_lanes_many_at_once(stack: Stack, slow_sink: SmtpSink) -> None:
    start_lanes(stack, slow_sink)
    ids = []
    for n in range(60):
        status, answer = stack.request(
            "POST",
            "/send",
            {"from": "app@example.com", "to": f"u{n}@example.com", "subject": "Hi", "text": "x"},
        )
        assert status == 200, answer
        ids.append(answer["data"]["emailId"])
    wait_for(slow_sink, 60, timeout=120)
    time.sleep(1)
    per_id = Counter(r.message["X-Mailroom-Email-Id"] for r in slow_sink.received)
    assert set(per_id) == set(ids) and set(per_id.values()) == {1}
    # One sending process held many SMTP transactions open at once: latency is hidden.
    assert slow_sink.most_in_flight >= SEND_CONCURRENCY // 2, slow_sink.most_in_flight
    assert all(stack.email(e)["status"] == "sent" for e in ids[:5])


def test_a_batch_is_sent_group_by_group_many_at_once(stack: Stack, slow_sink: SmtpSink) -> None:
    start_lanes(stack, slow_sink)
    recipients = [{"to": f"b{n}@example.com", "variables": {"N": n}} for n in range(300)]
    status, answer = stack.request(
        "POST",
        "/send/batch",
        {
            "from": "news@example.com",
            "subject": "Issue {{ N }}",
            "text": "number {{ N }}",
            "recipients": recipients,
        },
        timeout=60,
    )
    assert status == 200, answer
    ids = answer["data"]["emailIds"]
    wait_for(slow_sink, 300, timeout=180)
    time.sleep(1)
    per_id = Counter(r.message["X-Mailroom-Email-Id"] for r in slow_sink.received)
    assert set(per_id) == set(ids) and set(per_id.values()) == {1}
    subjects = {r.rcpt_tos[0]: r.message["Subject"] for r in slow_sink.received}
    assert subjects["b123@example.com"] == "Issue 123"
    # Groups of ten are sent one email after another, so only many groups at once fill the
    # sending pool.
    assert slow_sink.most_in_flight >= SEND_CONCURRENCY // 2, slow_sink.most_in_flight
    sample = stack.email(ids[7])
    assert sample["status"] == "sent"
    assert [e["type"] for e in sample["events"]][-2:] == ["sent", "recorded"]


class HangingEndpoint:
    """A caller's callback endpoint that takes longer to answer than callbacks wait."""

    def __init__(self) -> None:
        self.posts = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's method name
                endpoint.posts += 1
                time.sleep(15)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_hanging_callback_endpoint_does_not_hold_up_sending(
    stack: Stack, slow_sink: SmtpSink
) -> None:
    endpoint = HangingEndpoint()
    try:
        stack.env["MAILROOM_CALLBACKS_ALLOW_LOOPBACK"] = "true"  # the endpoint is on 127.0.0.1
        start_lanes(stack, slow_sink)
        stack.start_worker("callbacks", concurrency=2, pool="threads", lanes=(".callbacks",))
        status, answer = stack.request(
            "POST", "/webhooks/endpoints", {"url": endpoint.url, "events": ["sent"]}
        )
        assert status == 201, answer
        hook = answer["data"]["endpointId"]
        time.sleep(1.5)  # workers read endpoints at most once a second

        def send(names: range) -> None:
            for n in names:
                body = {"from": "app@example.com", "to": f"c{n}@example.com", "subject": "Hi"}
                status, answer = stack.request("POST", "/send", {**body, "text": "x"})
                assert status == 200, answer

        # Ten sends, then ten callbacks that each hold a worker for 10 s (their timeout).
        send(range(10))
        wait_for(slow_sink, 10, timeout=60)
        deadline = time.monotonic() + 30
        while endpoint.posts < 2 and time.monotonic() < deadline:
            time.sleep(0.25)
        listing = stack.request("GET", f"/webhooks/endpoints/{hook}/deliveries")[1]
        assert endpoint.posts >= 2, listing
        # While they hang, new mail goes through at once: on any lane that sending (or
        # rendering) shared with them, it would wait behind ~40 s of callbacks.
        started = time.monotonic()
        send(range(10, 20))
        wait_for(slow_sink, 20, timeout=60)
        arrived = len(slow_sink.received)
        assert arrived == 20, arrived
        assert time.monotonic() - started < 15, time.monotonic() - started
    finally:
        endpoint.stop()
