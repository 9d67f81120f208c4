"""Fixtures for tests that run Mailroom's real processes against real services."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu.connection import Connection

from tests.conftest import AMQP_URL
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An aiosmtpd server on a free loopback port that records every message."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def stack(tmp_path: Path, pg_url: str) -> Iterator[Stack]:
    """Processes on RabbitMQ and a throwaway PostgreSQL database, with a queue of their own."""
    s = Stack(
        tmp_path,
        {
            "DATABASE_URL": pg_url,
            "BROKER_URL": AMQP_URL,
            "STORAGE_LOCAL_ROOT": str(tmp_path / "objects"),
            "OUTBOX_DIR": str(tmp_path / "outbox"),
            "MAILROOM_SEND_MAX_RETRIES": "2",
            "MAILROOM_RETRY_BACKOFF_SECONDS": "0.2",
            "MAILROOM_RETRY_BACKOFF_MAX_SECONDS": "1",
        },
    )
    yield s
    s.stop()
    with contextlib.suppress(Exception), Connection(AMQP_URL, connect_timeout=5) as conn:  # type: ignore[no-untyped-call]
        channel = conn.default_channel
        channel.queue_delete(s.env["MAILROOM_QUEUE"])
        channel.exchange_delete(s.env["MAILROOM_QUEUE"])
