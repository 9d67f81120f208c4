"""A pool of SMTP connections lets one process keep many sends in flight, never more than its
size, each connection carrying one transaction at a time."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from providers.base import OutboundEmail, Provider
from providers.pool import PooledProvider
from providers.registry import ProviderSettings, build_providers
from providers.smtp import SmtpProvider
from tests.support.smtp_sink import SmtpSink


@pytest.fixture
def slow_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(latency=0.2).start()
    yield sink
    sink.stop()


def message(n: int) -> OutboundEmail:
    return OutboundEmail(
        from_addr="a@example.com",
        to=(f"r{n}@example.com",),
        subject=f"n{n}",
        text="x",
        message_id=f"<{n}@example.com>",
    )


def test_concurrent_sends_use_up_to_size_connections(slow_sink: SmtpSink) -> None:
    made: list[Provider] = []

    def connection() -> Provider:
        made.append(SmtpProvider("127.0.0.1", slow_sink.port, timeout=10))
        return made[-1]

    pool = PooledProvider(connection, size=8)
    with ThreadPoolExecutor(max_workers=16) as threads:
        results = list(threads.map(lambda n: pool.send(message(n)), range(40)))
    pool.close()
    assert [r.provider for r in results] == ["smtp"] * 40
    assert len(slow_sink.received) == 40
    assert sorted(r.rcpt_tos[0] for r in slow_sink.received) == sorted(
        f"r{n}@example.com" for n in range(40)
    )
    # Eight connections, each busy: eight transactions at the sink at once, never nine.
    assert len(made) == pool.size == 8
    assert slow_sink.most_in_flight == 8


def test_the_registry_pools_smtp_by_the_send_concurrency(slow_sink: SmtpSink) -> None:
    settings = ProviderSettings(smtp_host="127.0.0.1", smtp_port=slow_sink.port, concurrency=4)
    [smtp] = build_providers(["smtp"], settings)
    assert isinstance(smtp, PooledProvider) and smtp.name == "smtp"
    [single] = build_providers(["smtp"], ProviderSettings(smtp_port=slow_sink.port))
    assert isinstance(single, SmtpProvider)  # one send at a time: one connection, no pool


def test_a_pool_needs_room_for_one() -> None:
    with pytest.raises(ValueError, match="at least one"):
        PooledProvider(lambda: SmtpProvider("127.0.0.1", 25), size=0)
