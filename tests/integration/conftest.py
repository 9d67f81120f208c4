"""Fixtures for tests that run Mailroom's real processes against real services."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu.connection import Connection

from tests.conftest import AMQP_URL
from tests.support.gcs_emulator import GcsEmulator
from tests.support.moto_server import MotoServer, SesFront
from tests.support.sendgrid_server import SendGridServer
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack

SENDER = "billing@example.com"
PDF = b"%PDF-1.4\n" + b"invoice " * 200


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        server.verify(SENDER)
        yield server


@pytest.fixture
def ses(moto: MotoServer) -> Iterator[SesFront]:
    with SesFront(moto.port) as front:
        yield front


@pytest.fixture
def sendgrid() -> Iterator[SendGridServer]:
    with SendGridServer(api_key="SG.test-key") as server:
        yield server


@pytest.fixture
def gcs() -> Iterator[GcsEmulator]:
    with GcsEmulator() as emulator:
        emulator.create_bucket("invoices")
        emulator.put("invoices/2026/inv-1042.pdf", PDF, "application/pdf")
        yield emulator


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
