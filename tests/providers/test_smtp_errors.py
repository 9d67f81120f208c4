"""How the SMTP provider classifies what goes wrong, against real servers that misbehave on cue.

The class decides what failover does next, so each case checks the exact class, not a base.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from providers.errors import (
    AmbiguousError,
    ConfigurationError,
    ProviderError,
    RejectedError,
    TransientError,
)
from providers.smtp import SmtpProvider
from tests.providers.provider_testkit import (
    MessageFactory,
    RawSmtpServer,
    SmtpServer,
    free_port,
    password_authenticator,
)

StartSmtp = Callable[..., SmtpServer]
StartRaw = Callable[..., RawSmtpServer]


@pytest.fixture
def connect() -> Iterator[Callable[..., SmtpProvider]]:
    """SmtpProviders on 127.0.0.1, closed afterwards."""
    made: list[SmtpProvider] = []

    def make(port: int, timeout: float = 5, **kwargs: object) -> SmtpProvider:
        provider = SmtpProvider("127.0.0.1", port, timeout=timeout, **kwargs)  # type: ignore[arg-type]
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


Connect = Callable[..., SmtpProvider]


def send_expecting(
    expected: type[ProviderError], provider: SmtpProvider, make_message: MessageFactory
) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        provider.send(make_message())
    assert type(caught.value) is expected, caught.value.describe()
    assert caught.value.provider == "smtp"
    return caught.value


def test_connection_refused_is_transient(connect: Connect, make_message: MessageFactory) -> None:
    error = send_expecting(TransientError, connect(free_port()), make_message)

    assert isinstance(error.__cause__, ConnectionRefusedError)


def test_421_greeting_is_transient(
    raw_smtp: StartRaw, connect: Connect, make_message: MessageFactory
) -> None:
    server = raw_smtp(greeting="421 4.3.2 mx.test too busy, try later")

    error = send_expecting(TransientError, connect(server.port), make_message)

    assert error.status_code == 421
    assert error.response is not None and "too busy" in error.response


def test_451_on_rcpt_is_transient_and_nothing_is_delivered(
    smtp_server: SmtpServer, connect: Connect, make_message: MessageFactory
) -> None:
    smtp_server.handler.rcpt_replies["carol@example.com"] = "451 4.3.0 greylisted, come back later"
    provider = connect(smtp_server.port)

    error = send_expecting(TransientError, provider, make_message)

    assert error.status_code == 451
    assert smtp_server.handler.received == []
    # The transaction was reset, so the same connection carries the next message.
    del smtp_server.handler.rcpt_replies["carol@example.com"]
    provider.send(make_message())
    assert len(smtp_server.handler.received) == 1


def test_550_for_every_recipient_is_rejected(
    smtp_server: SmtpServer, connect: Connect, make_message: MessageFactory
) -> None:
    for addr in ("alice@example.com", "carol@example.com", "bob-hidden@example.com"):
        smtp_server.handler.rcpt_replies[addr] = "550 5.1.1 no such user"

    error = send_expecting(RejectedError, connect(smtp_server.port), make_message)

    assert error.status_code == 550
    assert (
        error.response is not None and "alice@example.com: 550 5.1.1 no such user" in error.response
    )
    assert smtp_server.handler.received == []


def test_550_for_one_recipient_delivers_to_the_others_and_reports_it(
    smtp_server: SmtpServer, connect: Connect, make_message: MessageFactory
) -> None:
    smtp_server.handler.rcpt_replies["carol@example.com"] = "550 5.1.1 no such user"

    result = connect(smtp_server.port).send(make_message(bcc=()))

    assert result.rejected == {"carol@example.com": "550 5.1.1 no such user"}
    assert smtp_server.handler.received[0].rcpt_tos == ["alice@example.com"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("553 5.7.1 sender address rejected", RejectedError),
        ("552 5.3.4 message size exceeds fixed limit", RejectedError),
        ("451 4.3.0 try again", TransientError),
        ("530 5.7.0 authentication required", ConfigurationError),
    ],
)
def test_mail_from_refusals(
    smtp_server: SmtpServer,
    connect: Connect,
    make_message: MessageFactory,
    reply: str,
    expected: type[ProviderError],
) -> None:
    smtp_server.handler.mail_reply = reply

    error = send_expecting(expected, connect(smtp_server.port), make_message)

    assert error.status_code == int(reply[:3])
    assert smtp_server.handler.received == []


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("451 4.3.0 local error in processing", TransientError),
        ("554 5.7.1 message content rejected", RejectedError),
        ("552 5.3.4 message too big", RejectedError),
    ],
)
def test_refusals_at_the_end_of_data(
    smtp_server: SmtpServer,
    connect: Connect,
    make_message: MessageFactory,
    reply: str,
    expected: type[ProviderError],
) -> None:
    smtp_server.handler.data_reply = reply

    error = send_expecting(expected, connect(smtp_server.port), make_message)

    assert error.status_code == int(reply[:3])


def test_wrong_password_is_a_configuration_error(
    start_smtp: StartSmtp, connect: Connect, make_message: MessageFactory
) -> None:
    server = start_smtp(authenticator=password_authenticator, auth_require_tls=False)
    provider = connect(server.port, username="mailroom", password="wrong")

    error = send_expecting(ConfigurationError, provider, make_message)

    assert error.status_code == 535
    assert server.handler.received == []


def test_credentials_for_a_server_without_auth_are_a_configuration_error(
    smtp_server: SmtpServer, connect: Connect, make_message: MessageFactory
) -> None:
    provider = connect(smtp_server.port, username="mailroom", password="secret")

    send_expecting(ConfigurationError, provider, make_message)


def test_required_starttls_missing_is_a_configuration_error(
    smtp_server: SmtpServer, connect: Connect, make_message: MessageFactory
) -> None:
    error = send_expecting(
        ConfigurationError, connect(smtp_server.port, starttls=True), make_message
    )

    assert "STARTTLS" in error.message


def test_silence_after_the_message_is_ambiguous(
    raw_smtp: StartRaw, connect: Connect, make_message: MessageFactory
) -> None:
    # The server answers "250 queued" after 5 s: a client that waited for it would succeed, so
    # the AmbiguousError proves the 1 s timeout held.
    server = raw_smtp(hang_on="END-OF-DATA", answer_after=5)
    provider = connect(server.port, timeout=1)

    send_expecting(AmbiguousError, provider, make_message)

    assert server.connections == 1  # and gave up without trying again
    # The server did get the whole message: it may well deliver it.
    assert (
        len(server.messages) == 1 and b"Message-ID: <receipt-1@mailroom.test>" in server.messages[0]
    )


def test_silence_before_the_message_is_only_transient(
    raw_smtp: StartRaw, connect: Connect, make_message: MessageFactory
) -> None:
    server = raw_smtp(hang_on="RCPT")

    send_expecting(TransientError, connect(server.port, timeout=1), make_message)

    assert server.messages == []
