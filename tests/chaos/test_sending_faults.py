"""Faults of the sending lane: a threads worker killed while it holds a hundred sends in flight,
and a provider that drops its connections mid-send under concurrency."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from tests.chaos.harness import Census, Load, plain_email, smtp_ids, tally
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import FINAL, Stack
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.chaos]
SENDERS = 100


@pytest.fixture
def remote_sink() -> Iterator[SmtpSink]:
    """A provider a second away: every message waits before its answer."""
    sink = SmtpSink(latency=1.0).start()
    yield sink
    sink.stop()


def _lanes(stack: Stack, smtp_port: int, *senders: str) -> None:
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "MAILROOM_SEND_CONCURRENCY": str(SENDERS),
        }
    )
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker("cpu", concurrency=2, lanes=("", ".bulk"))
    for name in senders:
        stack.start_worker(name, concurrency=SENDERS, pool="threads", lanes=(".send", ".bulk.send"))
    stack.start_beat()


def test_kill_sender_holding_a_hundred_sends(
    chaos_stack: Stack, census: Census, remote_sink: SmtpSink
) -> None:
    """kill -9 one of two sending workers while it has 100+ SMTP transactions open: every
    accepted email ends sent, copies only of emails claimed at the kill (each explained), and
    the killed worker's claims are taken over once their lease runs out (default settings)."""
    _lanes(chaos_stack, remote_sink.port, "s1", "s2")
    started = time.monotonic()
    accepted: list[str] = []
    for part in range(2):
        recipients = [{"to": f"k{part}-{n}@example.com", "variables": {"N": n}} for n in range(600)]
        status, answer = chaos_stack.request(
            "POST",
            "/send/batch",
            {
                "from": "chaos@example.com",
                "subject": "kill-sender {{ N }}",
                "text": "n={{ N }}",
                "recipients": recipients,
            },
            timeout=60,
        )
        assert status == 200, answer
        accepted += answer["data"]["emailIds"]
    deadline = time.monotonic() + 120
    while remote_sink.in_flight < SENDERS and time.monotonic() < deadline:
        time.sleep(0.05)
    in_flight = remote_sink.in_flight
    assert in_flight >= SENDERS, f"the fault would not strike: only {in_flight} in flight"
    claimed = {
        str(eid) for (eid,) in census.query("SELECT id::text FROM emails WHERE status = 'sending'")
    }
    chaos_stack.kill("s1", signal.SIGKILL)
    killed = time.monotonic()
    # How long the emails claimed at the kill took to end: the claim's lease, not the sweeper's.
    taken_over = None
    while time.monotonic() - killed < 240:
        if all(s in FINAL for s in census.status_of(claimed).values()):
            taken_over = time.monotonic() - killed
            break
        time.sleep(0.5)
    census.wait_final(len(accepted), timeout=240)
    result = tally(
        "kill-sender",
        census,
        None,
        accepted,
        {"smtp": smtp_ids(remote_sink)},
        started,
        {
            "in_flight_at_kill": in_flight,
            "claimed_at_kill": len(claimed),
            "final_after_kill_s": None if taken_over is None else round(taken_over, 1),
        },
    )
    result.report()
    result.assert_delivered()
    assert taken_over is not None, result.line()
    # A group records its sends together: what the killed worker had sent but not yet
    # recorded is sent again, never more than the emails claimed at the kill.
    assert result.duplicates <= len(claimed), result.line()
    reclaimed = census.events("reclaimed")
    copies = {e for e in smtp_ids(remote_sink) if smtp_ids(remote_sink).count(e) > 1}
    assert all(reclaimed[e] for e in copies), copies


def test_provider_drops_connections_mid_send(chaos_stack: Stack, census: Census) -> None:
    """The SMTP server's connections are cut three times while 50 sends are in flight: every
    email ends sent, a copy is sent twice only after an ambiguous attempt, never elsewhere."""
    sink = SmtpSink(latency=0.5).start()
    proxy = TcpProxy(sink.port).start()
    try:
        _lanes(chaos_stack, proxy.port, "s1")
        started = time.monotonic()
        load = Load(chaos_stack, lambda n: plain_email("drop", n), 400, threads=12, rate=60).start()
        cuts = 0
        while len(smtp_ids(sink)) < 400 and cuts < 3:
            time.sleep(1.5)
            if sink.in_flight >= 10:
                proxy.stop()  # every open transaction is cut, some after their final dot
                proxy.start()
                cuts += 1
        load.join()
        assert cuts == 3, "the fault would not strike: too few sends in flight"
        census.wait_final(len(load.accepted), timeout=240)
        result = tally(
            "drop-connections",
            census,
            load,
            load.accepted,
            {"smtp": smtp_ids(sink)},
            started,
            {"cuts": cuts},
        )
        result.report()
        result.assert_delivered()
        ambiguous = census.events("ambiguous")
        retried = census.events("retry")
        assert result.lost == 0, result.line()
        assert set(census.status_of(load.accepted).values()) == {"sent"}, result.line()
        assert set(smtp_ids(sink)) == set(load.accepted)
        assert sum(ambiguous.values()) + sum(retried.values()) > 0, "no send was cut"
        copies = {e for e in smtp_ids(sink) if smtp_ids(sink).count(e) > 1}
        assert all(ambiguous[e] for e in copies), copies
    finally:
        proxy.stop()
        sink.stop()
