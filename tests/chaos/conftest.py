"""Fixtures of the chaos suite: a private RabbitMQ node and PostgreSQL cluster, a stack on them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.harness import FAST_ENV, LINES, Census
from tests.chaos.services import PgCluster, RabbitNode, services_missing
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Repeat every scenario's counts at the end, whatever pytest captured."""
    if LINES:
        terminalreporter.section("chaos results")
        for line in LINES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    """One RabbitMQ node for the session; scenarios that stop or kill it start it again."""
    missing = services_missing()
    if missing:
        pytest.skip(missing)
    node = RabbitNode(tmp_path_factory.mktemp("rabbit")).start()
    try:
        yield node
    finally:
        node.stop()
        node.kill()


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    """One PostgreSQL cluster for the session; each scenario gets a database of its own."""
    missing = services_missing()
    if missing:
        pytest.skip(missing)
    cluster = PgCluster().init()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server that records every message (the counter of most scenarios)."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def chaos_stack(tmp_path: Path, rabbit: RabbitNode, pg: PgCluster) -> Iterator[Stack]:
    """Mailroom's processes on the private services, with the suite's fast recovery settings."""
    if not rabbit.running:  # an earlier scenario failed while the node was down
        rabbit.start()
    stack = Stack(
        tmp_path,
        {
            **FAST_ENV,
            "DATABASE_URL": pg.create_database(),
            "BROKER_URL": rabbit.url,
            "STORAGE_LOCAL_ROOT": str(tmp_path / "objects"),
            "OUTBOX_DIR": str(tmp_path / "outbox"),
        },
    )
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def census(chaos_stack: Stack) -> Census:
    """Direct reads of the stack's database."""
    return Census(chaos_stack.env["DATABASE_URL"])
