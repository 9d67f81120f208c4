"""The SES provider against moto's SES in server mode, and a front that throttles or hangs."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.errors import AmbiguousError, ConfigurationError, RejectedError, TransientError
from providers.registry import ProviderSettings, build_providers
from providers.ses import MAX_MESSAGE_BYTES, SesProvider
from tests.providers.provider_testkit import SES_SENDER, MessageFactory
from tests.support.moto_server import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    MotoServer,
    SentRaw,
    SesFront,
)


def ses(endpoint_url: str, **kwargs: object) -> SesProvider:
    """A provider for moto (or a front), with moto's throwaway credentials."""
    options: dict[str, object] = {
        "region": REGION,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "endpoint_url": endpoint_url,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        **kwargs,
    }
    return SesProvider(**options)  # type: ignore[arg-type]


@pytest.fixture
def provider(moto_ses: MotoServer) -> Iterator[SesProvider]:
    """A provider talking straight to the shared moto."""
    provider = ses(moto_ses.url)
    yield provider
    provider.close()


def recorded(moto: MotoServer, message_id: str) -> SentRaw:
    """The message moto recorded under `message_id`, which must exist exactly once."""
    [sent] = [m for m in moto.sent() if m.message_id == message_id]
    return sent


def test_a_full_message_arrives_with_bcc_only_in_the_envelope(
    provider: SesProvider, moto_ses: MotoServer, make_message: MessageFactory
) -> None:
    result = provider.send(make_message())

    sent = recorded(moto_ses, result.message_id)
    assert result.provider == "ses"
    assert sent.source == "Mailroom <sender@example.com>"
    # moto also adds the header recipients to the destinations; bcc can only come from ours.
    assert {"alice@example.com", "carol@example.com", "bob-hidden@example.com"} == set(
        sent.destinations
    )
    msg = sent.message
    assert msg["To"] == "alice@example.com"
    assert msg["Cc"] == "carol@example.com"
    assert msg["Reply-To"] == "support@example.com"
    assert msg["Message-ID"] == "<receipt-1@mailroom.test>"
    assert msg["X-Campaign"] == "spring"
    assert "Bcc" not in msg and b"bob-hidden" not in sent.raw
    body = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert body is not None and body.get_content().strip() == "Thanks for your order."
    assert html is not None and html.get_content().strip() == "<p>Thanks for your order.</p>"
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "receipt.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == b"%PDF-1.4 fake"


def test_each_send_gets_its_own_provider_message_id(
    provider: SesProvider, moto_ses: MotoServer, make_message: MessageFactory
) -> None:
    first = provider.send(make_message(bcc=()))
    second = provider.send(make_message(bcc=(), to=("dave@example.com",)))

    assert first.message_id != second.message_id
    assert recorded(moto_ses, second.message_id).destinations[0] == "dave@example.com"


def test_an_unverified_sender_is_a_configuration_problem(
    provider: SesProvider, moto_ses: MotoServer, make_message: MessageFactory
) -> None:
    # SES (and moto) answer MessageRejected; it is this account's setup, not the message, that
    # is wrong, so another provider should get the chance to send it.
    before = len(moto_ses.sent())

    with pytest.raises(ConfigurationError) as caught:
        provider.send(make_message(from_addr="stranger@unverified.example"))

    assert caught.value.status_code == "MessageRejected"
    assert "stranger@unverified.example" in caught.value.message
    assert len(moto_ses.sent()) == before


def test_ses_down_is_transient_and_the_same_provider_recovers(
    make_message: MessageFactory,
) -> None:
    with MotoServer() as moto:
        moto.verify(SES_SENDER)
        provider = ses(moto.url)
        provider.send(make_message())  # a pooled connection now exists
        moto.stop()

        with pytest.raises(TransientError, match="cannot reach SES"):
            provider.send(make_message())

        moto.start()  # an empty moto; the sender is verified again
        result = provider.send(make_message())
        assert [m.message_id for m in moto.sent()] == [result.message_id]
        provider.close()


def test_throttling_is_transient_and_not_retried_by_botocore(
    ses_front: SesFront, make_message: MessageFactory
) -> None:
    ses_front.set_mode("throttle")
    provider = ses(ses_front.url)

    with pytest.raises(TransientError) as caught:
        provider.send(make_message())

    assert caught.value.status_code == "TooManyRequestsException"
    assert ses_front.requests == 1


def test_a_server_error_is_transient(ses_front: SesFront, make_message: MessageFactory) -> None:
    ses_front.set_mode("error")

    with pytest.raises(TransientError) as caught:
        ses(ses_front.url).send(make_message())

    assert caught.value.status_code == "InternalFailure"


def test_no_answer_in_time_is_ambiguous_and_sent_once(
    ses_front: SesFront, make_message: MessageFactory
) -> None:
    # The front answers 500 after 10 s: a client that waited would see a TransientError, so the
    # AmbiguousError proves the 0.5 s read timeout held.
    ses_front.set_mode("hang", hang_seconds=10)
    provider = ses(ses_front.url, read_timeout=0.5)

    with pytest.raises(AmbiguousError, match="may have been accepted"):
        provider.send(make_message())

    # A retry here could deliver twice: exactly one request may reach SES.
    assert ses_front.requests == 1


def test_the_front_forwards_to_moto(
    ses_front: SesFront, moto_ses: MotoServer, make_message: MessageFactory
) -> None:
    result = ses(ses_front.url).send(make_message())

    assert recorded(moto_ses, result.message_id).source == "Mailroom <sender@example.com>"


def test_the_configuration_set_and_envelope_are_what_ses_receives(
    ses_front: SesFront, make_message: MessageFactory
) -> None:
    ses(ses_front.url, configuration_set="mailroom-events").send(make_message())

    [body] = ses_front.bodies
    request = json.loads(body)
    assert request["ConfigurationSetName"] == "mailroom-events"
    assert request["FromEmailAddress"] == "Mailroom <sender@example.com>"
    assert request["Destination"] == {
        "ToAddresses": ["alice@example.com"],
        "CcAddresses": ["carol@example.com"],
        "BccAddresses": ["bob-hidden@example.com"],
    }
    raw = base64.b64decode(request["Content"]["Raw"]["Data"])
    assert b"Message-ID: <receipt-1@mailroom.test>" in raw and b"bob-hidden" not in raw


def test_without_a_configuration_set_none_is_named(
    ses_front: SesFront, make_message: MessageFactory
) -> None:
    ses(ses_front.url).send(make_message())

    [body] = ses_front.bodies
    assert "ConfigurationSetName" not in json.loads(body)


def test_an_oversized_message_is_refused_before_any_request(
    ses_front: SesFront, make_message: MessageFactory
) -> None:
    provider = ses(ses_front.url, max_message_bytes=2_000)

    with pytest.raises(RejectedError, match="exceeds the SES limit of 2000"):
        provider.send(make_message(text="x" * 5_000))

    assert ses_front.requests == 0
    assert MAX_MESSAGE_BYTES == 40 * 1024 * 1024


def test_header_injection_is_refused_before_any_request(
    ses_front: SesFront, make_message: MessageFactory
) -> None:
    with pytest.raises(RejectedError, match="line break"):
        ses(ses_front.url).send(make_message(subject="Hi\r\nBcc: victim@example.com"))

    assert ses_front.requests == 0


@pytest.fixture
def no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing from which boto3 could find a region or credentials."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.usefixtures("no_aws_environment")
def test_missing_credentials_are_a_configuration_error(
    ses_front: SesFront, make_message: MessageFactory
) -> None:
    provider = SesProvider(region=REGION, endpoint_url=ses_front.url)

    with pytest.raises(ConfigurationError, match="credentials"):
        provider.send(make_message())

    assert ses_front.requests == 0


@pytest.mark.usefixtures("no_aws_environment")
def test_missing_region_is_a_configuration_error(make_message: MessageFactory) -> None:
    provider = SesProvider(access_key_id="a", secret_access_key="b")

    with pytest.raises(ConfigurationError, match="region"):
        provider.send(make_message())


@pytest.mark.usefixtures("no_aws_environment")
def test_boto3_reads_the_usual_aws_variables(
    monkeypatch: pytest.MonkeyPatch, moto_ses: MotoServer, make_message: MessageFactory
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)

    result = SesProvider(endpoint_url=moto_ses.url).send(make_message())

    assert recorded(moto_ses, result.message_id)


def test_the_registry_builds_ses_from_settings(
    moto_ses: MotoServer, make_message: MessageFactory
) -> None:
    settings = ProviderSettings(
        ses_region=REGION,
        ses_access_key_id=ACCESS_KEY_ID,
        ses_secret_access_key=SECRET_ACCESS_KEY,
        ses_endpoint_url=moto_ses.url,
        ses_read_timeout=4.0,
    )

    [provider] = build_providers(["ses"], settings)

    assert isinstance(provider, SesProvider)
    assert (provider.region, provider.read_timeout) == (REGION, 4.0)
    assert "s3cr3t-value" not in repr(ProviderSettings(ses_secret_access_key="s3cr3t-value"))
    assert recorded(moto_ses, provider.send(make_message()).message_id)


def test_inconsistent_credentials_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="go together"):
        SesProvider(region=REGION, access_key_id="only-the-id")
