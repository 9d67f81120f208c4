"""The SNS verifier's own certificate fetch, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from providers.events import CertificateUnavailable, SignatureError, SnsVerifier
from providers.events.sns import MAX_CERT_BYTES, fetch_certificate, fetch_url
from tests.support.signing import (
    TOPIC_ARN,
    CertServer,
    SnsSigner,
    ses_complaint,
    sns_notification,
)

CERT_PATH = "/SimpleNotificationService-local.pem"
OURS = [TOPIC_ARN]


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner.generate()


@pytest.fixture
def server(signer: SnsSigner) -> Iterator[CertServer]:
    with CertServer() as server:
        server.serve(CERT_PATH, signer.certificate_pem)
        yield server


@pytest.fixture
def verifier(server: CertServer) -> SnsVerifier:
    return SnsVerifier([f"127.0.0.1:{server.port}"], allow_http=True, allowed_topic_arns=OURS)


def notification() -> dict[str, object]:
    """A complaint published now."""
    now = datetime.now(UTC)
    return sns_notification(ses_complaint("ses-1", ["alice@example.com"], now), at=now)


def test_a_certificate_served_over_http_verifies_and_is_fetched_once(
    verifier: SnsVerifier, signer: SnsSigner, server: CertServer
) -> None:
    url = server.url(CERT_PATH)

    verifier.verify(signer.sign(notification(), cert_url=url))
    verifier.verify(signer.sign(notification(), cert_url=url, version="2"))

    assert server.hits == {CERT_PATH: 1}


def test_http_needs_allow_http(signer: SnsSigner, server: CertServer) -> None:
    verifier = SnsVerifier([f"127.0.0.1:{server.port}"], allowed_topic_arns=OURS)

    with pytest.raises(SignatureError, match="not an allowed"):
        verifier.verify(signer.sign(notification(), cert_url=server.url(CERT_PATH)))
    assert not server.hits


def test_a_missing_certificate_is_unavailable(
    verifier: SnsVerifier, signer: SnsSigner, server: CertServer
) -> None:
    with pytest.raises(CertificateUnavailable, match="404"):
        verifier.verify(signer.sign(notification(), cert_url=server.url("/gone.pem")))


def test_redirects_are_not_followed(
    verifier: SnsVerifier, signer: SnsSigner, server: CertServer
) -> None:
    url = server.redirect("/moved.pem", server.url(CERT_PATH))

    with pytest.raises(CertificateUnavailable, match="302"):
        verifier.verify(signer.sign(notification(), cert_url=url))
    assert server.hits == {"/moved.pem": 1}


def test_an_oversized_answer_is_refused(server: CertServer) -> None:
    url = server.serve("/huge.pem", b"x" * (MAX_CERT_BYTES + 1))

    with pytest.raises(ValueError, match="more than"):
        fetch_certificate(url)


def test_nobody_listening_is_unavailable(signer: SnsSigner) -> None:
    with CertServer() as server:
        url = server.url(CERT_PATH)
    verifier = SnsVerifier([f"127.0.0.1:{server.port}"], allow_http=True, allowed_topic_arns=OURS)

    with pytest.raises(CertificateUnavailable):
        verifier.verify(signer.sign(notification(), cert_url=url))


def test_a_silent_server_times_out(signer: SnsSigner) -> None:
    with socket.socket() as listener:
        # Accepts connections (the backlog) but never answers: only the timeout ends the fetch.
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow.pem"
        verifier = SnsVerifier(
            [f"127.0.0.1:{listener.getsockname()[1]}"],
            lambda u: fetch_certificate(u, timeout=0.2),
            allow_http=True,
            allowed_topic_arns=OURS,
        )

        with pytest.raises(CertificateUnavailable, match="timed out"):
            verifier.verify(signer.sign(notification(), cert_url=url))


def test_a_dripping_server_is_cut_off_at_the_deadline() -> None:
    stop = threading.Event()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def drip() -> None:
            # A well-formed answer whose body comes one byte at a time, each within the timeout.
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                while not stop.wait(0.05):
                    conn.sendall(b"x")

        thread = threading.Thread(target=drip, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/drip.pem"
        started = time.monotonic()
        try:
            with pytest.raises(TimeoutError, match="took more than"):
                fetch_url(url, timeout=1.0, deadline=0.5)
        finally:
            stop.set()
        assert time.monotonic() - started < 2.0
