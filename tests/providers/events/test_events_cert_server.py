"""The SNS verifier's own certificate fetch, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from providers.events import CertificateUnavailable, SignatureError, SnsVerifier
from providers.events.sns import MAX_CERT_BYTES, fetch_certificate
from tests.support.signing import CertServer, SnsSigner, ses_complaint, sns_notification

CERT_PATH = "/SimpleNotificationService-local.pem"


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner.generate()


@pytest.fixture
def server(signer: SnsSigner) -> Iterator[CertServer]:
    with CertServer() as server:
        server.serve(CERT_PATH, signer.certificate_pem)
        yield server


@pytest.fixture
def verifier() -> SnsVerifier:
    return SnsVerifier(["127.0.0.1"], allow_http=True)


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
    verifier = SnsVerifier(["127.0.0.1"])

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
    verifier = SnsVerifier(["127.0.0.1"], allow_http=True)

    with pytest.raises(CertificateUnavailable):
        verifier.verify(signer.sign(notification(), cert_url=url))


def test_a_silent_server_times_out(signer: SnsSigner) -> None:
    with socket.socket() as listener:
        # Accepts connections (the backlog) but never answers: only the timeout ends the fetch.
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow.pem"
        verifier = SnsVerifier(
            ["127.0.0.1"], lambda u: fetch_certificate(u, timeout=0.2), allow_http=True
        )

        with pytest.raises(CertificateUnavailable, match="timed out"):
            verifier.verify(signer.sign(notification(), cert_url=url))
