"""The SES webhook trusts only the SNS topics it is given, and only exact certificate hosts:
real signatures, a real certificate server, through the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from api import create_app
from tests.support.signing import (
    TOPIC_ARN,
    CertServer,
    SnsSigner,
    json_body,
    ses_bounce,
    sns_notification,
)

CERT_PATH = "/SimpleNotificationService-api.pem"


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner.generate()


@pytest.fixture
def server(signer: SnsSigner) -> Iterator[CertServer]:
    with CertServer() as server:
        server.serve(CERT_PATH, signer.certificate_pem)
        yield server


def client_for(
    sqlite_url: str, storage_root: Path, topics: tuple[str, ...], hosts: tuple[str, ...]
) -> FlaskClient:
    """The API with these SNS settings."""
    webhooks = {
        "sns_topic_arns": topics,
        "sns_cert_hosts": hosts,
        "sns_allow_http": True,
        "sendgrid_public_key": None,
    }
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url,
            "STORAGE_LOCAL_ROOT": storage_root,
            "WEBHOOKS": webhooks,
        }
    )
    return app.test_client()


def bounce(signer: SnsSigner, cert_url: str, topic: str = TOPIC_ARN) -> bytes:
    """A signed SES bounce for a message nobody sent."""
    inner = ses_bounce("ses-unknown", ["ann@example.com"], datetime.now(UTC))
    return json_body(signer.sign(sns_notification(inner, topic_arn=topic), cert_url=cert_url))


def test_without_topics_every_message_is_refused_unfetched(
    sqlite_url: str, storage_root: Path, signer: SnsSigner, server: CertServer
) -> None:
    client = client_for(sqlite_url, storage_root, (), (f"127.0.0.1:{server.port}",))

    response = client.post("/webhooks/ses", data=bounce(signer, server.url(CERT_PATH)))

    assert response.status_code == 403
    assert response.get_json()["error"] == ("SES events are not accepted: no SNS topic configured")
    assert not server.hits


def test_a_named_topic_passes_and_another_is_refused_unfetched(
    sqlite_url: str, storage_root: Path, signer: SnsSigner, server: CertServer
) -> None:
    client = client_for(sqlite_url, storage_root, (TOPIC_ARN,), (f"127.0.0.1:{server.port}",))
    url = server.url(CERT_PATH)

    theirs = client.post("/webhooks/ses", data=bounce(signer, url, TOPIC_ARN + "-theirs"))
    assert theirs.status_code == 403 and not server.hits
    ours = client.post("/webhooks/ses", data=bounce(signer, url))
    assert ours.status_code == 200, ours.get_json()
    assert ours.get_json()["data"]["unknown"] == 1


@pytest.mark.parametrize("hosts", [("127.0.0.1",), ("127.0.0.2",), (r"127\.0\.0\.1",), (".*",)])
def test_certificate_hosts_are_exact_names_and_ports(
    sqlite_url: str,
    storage_root: Path,
    signer: SnsSigner,
    server: CertServer,
    hosts: tuple[str, ...],
) -> None:
    # The server is not on port 80: a name without a port does not cover it, nor does a pattern.
    client = client_for(sqlite_url, storage_root, (TOPIC_ARN,), hosts)

    response = client.post("/webhooks/ses", data=bounce(signer, server.url(CERT_PATH)))

    assert response.status_code == 403
    assert "not an allowed certificate URL" in response.get_json()["error"]
    assert not server.hits
