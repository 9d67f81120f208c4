"""The SendGrid provider against a local server that speaks v3 Mail Send."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import pytest

from providers.base import Attachment
from providers.errors import AmbiguousError, ConfigurationError, RejectedError, TransientError
from providers.registry import ProviderSettings, build_providers
from providers.sendgrid import MAX_PAYLOAD_BYTES, SendGridProvider
from tests.providers.provider_testkit import MessageFactory
from tests.support.net import free_port
from tests.support.sendgrid_server import Accepted, SendGridServer


def sendgrid(server: SendGridServer, **kwargs: object) -> SendGridProvider:
    """A provider for the local server, with its key and a short timeout."""
    options: dict[str, object] = {"api_key": server.api_key, "host": server.url, "timeout": 2.0}
    return SendGridProvider(**{**options, **kwargs})  # type: ignore[arg-type]


def accepted(server: SendGridServer) -> Accepted:
    """The single request the server accepted."""
    [request] = server.received
    return request


def test_a_full_message_becomes_sendgrid_json(
    sendgrid_server: SendGridServer, make_message: MessageFactory
) -> None:
    result = sendgrid(sendgrid_server).send(make_message())

    request = accepted(sendgrid_server)
    payload = request.payload
    assert result.provider == "sendgrid"
    assert result.message_id == request.message_id  # the X-Message-Id of the 202
    assert request.headers["Authorization"] == "Bearer SG.test-key"
    assert payload["personalizations"] == [
        {
            "to": [{"email": "alice@example.com"}],
            "cc": [{"email": "carol@example.com"}],
            "bcc": [{"email": "bob-hidden@example.com"}],
        }
    ]
    assert payload["from"] == {"email": "sender@example.com", "name": "Mailroom"}
    assert payload["reply_to"] == {"email": "support@example.com"}
    assert payload["subject"] == "Your receipt"
    assert payload["content"] == [
        {"type": "text/plain", "value": "Thanks for your order."},
        {"type": "text/html", "value": "<p>Thanks for your order.</p>"},
    ]
    [attachment] = payload["attachments"]
    assert base64.b64decode(attachment.pop("content")) == b"%PDF-1.4 fake"
    assert attachment == {
        "filename": "receipt.pdf",
        "type": "application/pdf",
        "disposition": "attachment",
    }
    assert payload["headers"] == {"Message-ID": "<receipt-1@mailroom.test>", "X-Campaign": "spring"}
    assert payload["categories"] == ["tag-receipts"]


def test_an_address_is_sent_once_across_to_cc_and_bcc(
    sendgrid_server: SendGridServer, make_message: MessageFactory
) -> None:
    message = make_message(
        to=("Ann <ann@example.com>", "ann@example.com"),
        cc=("ANN@example.com", "carl@example.com"),
        bcc=("carl@example.com", "dora@example.com"),
    )

    sendgrid(sendgrid_server).send(message)

    # The server answers 400 to duplicates, as SendGrid does; it accepted this one.
    [personalization] = accepted(sendgrid_server).payload["personalizations"]
    assert personalization == {
        "to": [{"email": "ann@example.com", "name": "Ann"}],
        "cc": [{"email": "carl@example.com"}],
        "bcc": [{"email": "dora@example.com"}],
    }


@pytest.mark.parametrize(
    ("text", "html", "types"),
    [
        ("plain only", None, ["text/plain"]),
        (None, "<p>html only</p>", ["text/html"]),
        ("both", "<p>both</p>", ["text/plain", "text/html"]),
    ],
)
def test_content_parts_are_those_given_text_first(
    sendgrid_server: SendGridServer,
    make_message: MessageFactory,
    text: str | None,
    html: str | None,
    types: list[str],
) -> None:
    sendgrid(sendgrid_server).send(make_message(text=text, html=html))

    assert [part["type"] for part in accepted(sendgrid_server).payload["content"]] == types


def test_tags_become_at_most_ten_valid_categories(
    sendgrid_server: SendGridServer, make_message: MessageFactory
) -> None:
    tags = ("x" * 256, "a", "a", *(f"t{i}" for i in range(12)))

    sendgrid(sendgrid_server).send(make_message(tags=tags))

    assert accepted(sendgrid_server).payload["categories"] == ["a", *(f"t{i}" for i in range(9))]


def test_a_message_without_optional_parts_leaves_them_out(
    sendgrid_server: SendGridServer, make_message: MessageFactory
) -> None:
    message = make_message(cc=(), bcc=(), reply_to=None, attachments=(), tags=(), headers=())

    sendgrid(sendgrid_server).send(message)

    payload = accepted(sendgrid_server).payload
    assert payload["personalizations"] == [{"to": [{"email": "alice@example.com"}]}]
    assert not {"reply_to", "attachments", "categories"} & payload.keys()
    assert payload["headers"] == {"Message-ID": "<receipt-1@mailroom.test>"}


def test_a_wrong_key_is_a_configuration_error(
    sendgrid_server: SendGridServer, make_message: MessageFactory
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        sendgrid(sendgrid_server, api_key="SG.revoked").send(make_message())

    assert caught.value.status_code == 401
    assert "authorization grant is invalid" in caught.value.message
    assert sendgrid_server.received == []


@pytest.mark.parametrize(
    ("mode", "status"), [("throttle", 429), ("error", 500), ("unavailable", 503)]
)
def test_throttling_and_server_errors_are_transient(
    sendgrid_server: SendGridServer, make_message: MessageFactory, mode: str, status: int
) -> None:
    sendgrid_server.set_mode(mode)

    with pytest.raises(TransientError) as caught:
        sendgrid(sendgrid_server).send(make_message())

    assert caught.value.status_code == status
    assert sendgrid_server.requests == 1


def test_a_message_sendgrid_refuses_is_rejected_with_its_reasons(
    sendgrid_server: SendGridServer, make_message: MessageFactory
) -> None:
    with pytest.raises(RejectedError) as caught:
        sendgrid(sendgrid_server).send(make_message(to=("not-an-address",)))

    assert caught.value.status_code == 400
    assert "Does not contain a valid address. (field personalizations.0.to.0.email)" in (
        caught.value.message
    )


def test_no_answer_in_time_is_ambiguous(
    sendgrid_server: SendGridServer, make_message: MessageFactory
) -> None:
    # The server answers 202 after 10 s: a client that waited would succeed, so the
    # AmbiguousError proves the 0.5 s timeout held; one request proves it was not retried.
    sendgrid_server.set_mode("hang", hang_seconds=10)

    with pytest.raises(AmbiguousError, match="may have been accepted"):
        sendgrid(sendgrid_server, timeout=0.5).send(make_message())

    assert sendgrid_server.requests == 1


def test_nobody_listening_is_transient(make_message: MessageFactory) -> None:
    provider = SendGridProvider(api_key="SG.k", host=f"http://127.0.0.1:{free_port()}", timeout=2)

    with pytest.raises(TransientError, match="cannot reach"):
        provider.send(make_message())


def test_a_server_gone_then_back_is_transient_then_works(
    sendgrid_server: SendGridServer, make_message: MessageFactory
) -> None:
    provider = sendgrid(sendgrid_server)
    sendgrid_server.stop()

    with pytest.raises(TransientError):
        provider.send(make_message())

    sendgrid_server.start()  # the same port again
    assert provider.send(make_message()).message_id == accepted(sendgrid_server).message_id


def test_an_oversized_request_is_refused_before_sending(
    sendgrid_server: SendGridServer, make_message: MessageFactory
) -> None:
    big = Attachment("big.bin", "application/octet-stream", b"\0" * 3_000)

    with pytest.raises(RejectedError, match="exceeds the SendGrid limit of 2000"):
        sendgrid(sendgrid_server, max_payload_bytes=2_000).send(make_message(attachments=(big,)))

    assert sendgrid_server.requests == 0
    assert MAX_PAYLOAD_BYTES == 30 * 1024 * 1024


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"subject": "Hi\r\nBcc: victim@example.com"}, "line break"),
        ({"headers": (("X-SG-ID", "forged"),)}, "reserved by SendGrid"),
        ({"headers": (("X-Tag", "a"), ("x-tag", "b"))}, "appears twice"),
        ({"to": (), "cc": ()}, "at least one To recipient"),
        ({"text": "", "html": None}, "without a body"),
    ],
)
def test_what_sendgrid_cannot_carry_is_refused_before_sending(
    sendgrid_server: SendGridServer,
    make_message: MessageFactory,
    overrides: dict[str, object],
    reason: str,
) -> None:
    with pytest.raises(RejectedError, match=reason):
        sendgrid(sendgrid_server).send(make_message(**overrides))

    assert sendgrid_server.requests == 0


def test_without_a_key_nothing_is_sent(
    monkeypatch: pytest.MonkeyPatch, sendgrid_server: SendGridServer, make_message: MessageFactory
) -> None:
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)

    with pytest.raises(ConfigurationError, match="no SendGrid API key"):
        SendGridProvider(host=sendgrid_server.url).send(make_message())

    assert sendgrid_server.requests == 0


def test_the_key_defaults_to_sendgrid_api_key(
    monkeypatch: pytest.MonkeyPatch, sendgrid_server: SendGridServer, make_message: MessageFactory
) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", sendgrid_server.api_key)

    SendGridProvider(host=sendgrid_server.url, timeout=2).send(make_message())

    assert accepted(sendgrid_server).headers["Authorization"] == "Bearer SG.test-key"


def test_the_registry_builds_sendgrid_from_settings(
    sendgrid_server: SendGridServer, make_message: MessageFactory
) -> None:
    settings = ProviderSettings(
        sendgrid_api_key=sendgrid_server.api_key,
        sendgrid_host=sendgrid_server.url,
        sendgrid_timeout=3.0,
    )

    [provider] = build_providers(["sendgrid"], settings)

    assert isinstance(provider, SendGridProvider) and provider.timeout == 3.0
    assert "SG.test-key" not in repr(settings)
    assert provider.send(make_message()).message_id == accepted(sendgrid_server).message_id


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SendGridProvider(api_key="SG.k", timeout=0)


def test_sends_reuse_kept_alive_connections(
    sendgrid_server: SendGridServer, make_message: MessageFactory
) -> None:
    """One connection serves one sending thread's emails; threads get connections of their
    own, never more than the pool's size."""
    provider = sendgrid(sendgrid_server)
    for _ in range(5):
        provider.send(make_message())
    assert (sendgrid_server.requests, sendgrid_server.connections) == (5, 1)
    with ThreadPoolExecutor(max_workers=4) as threads:
        list(threads.map(lambda _: provider.send(make_message()), range(40)))
    assert len(sendgrid_server.received) == 45
    assert sendgrid_server.connections <= 4
