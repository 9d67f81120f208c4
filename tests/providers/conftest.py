"""Fixtures for the provider tests; the helpers they use live in provider_testkit.py."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.providers.provider_testkit import (
    SES_SENDER,
    MessageFactory,
    RawSmtpServer,
    RecordingHandler,
    SmtpServer,
    free_port,
)
from tests.providers.provider_testkit import (
    make_message as build_message,
)
from tests.support.moto_server import MotoServer, SesFront
from tests.support.sendgrid_server import SendGridServer


@pytest.fixture
def make_message() -> MessageFactory:
    """Build a complete message; tests override the fields they are about."""
    return build_message


@pytest.fixture
def start_smtp() -> Iterator[Callable[..., SmtpServer]]:
    """Start aiosmtpd servers with the given SMTP keyword arguments; stopped after the test."""
    controllers: list[Controller] = []

    def start(**smtp_kwargs: Any) -> SmtpServer:
        handler = RecordingHandler()
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **smtp_kwargs)
        controller.start()
        controllers.append(controller)
        return SmtpServer(handler, port)

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp_server(start_smtp: Callable[..., SmtpServer]) -> SmtpServer:
    """A plain aiosmtpd server that accepts everything."""
    return start_smtp()


@pytest.fixture
def raw_smtp() -> Iterator[Callable[..., RawSmtpServer]]:
    """Start raw SMTP servers; stopped (and any hanging session released) after the test."""
    servers: list[RawSmtpServer] = []

    def start(**kwargs: Any) -> RawSmtpServer:
        server = RawSmtpServer(**kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def server_tls_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    """The server side of the test certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    return context


@pytest.fixture
def client_tls_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts the test certificate and nothing else."""
    return ssl.create_default_context(cafile=str(tls_files[0]))


@pytest.fixture(scope="session")
def moto_ses() -> Iterator[MotoServer]:
    """moto's SES in its own process, shared by the session, with SES_SENDER verified."""
    with MotoServer() as server:
        server.verify(SES_SENDER)
        yield server


@pytest.fixture
def ses_front(moto_ses: MotoServer) -> Iterator[SesFront]:
    """A front before the shared moto that forwards, throttles, fails or hangs on demand."""
    with SesFront(moto_ses.port) as front:
        yield front


@pytest.fixture
def sendgrid_server() -> Iterator[SendGridServer]:
    """A local SendGrid v3 Mail Send server expecting the key `SG.test-key`."""
    with SendGridServer(api_key="SG.test-key") as server:
        yield server
