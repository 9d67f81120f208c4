"""The SMTP provider against a real aiosmtpd server: delivery, envelope, connection reuse, TLS."""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from collections.abc import Callable, Iterator
from email.utils import parseaddr

import pytest
from aiosmtpd.smtp import AuthResult

from providers.errors import ConfigurationError
from providers.smtp import SmtpProvider
from tests.providers.provider_testkit import (
    HARD_CASES,
    MessageFactory,
    SmtpServer,
    password_authenticator,
    rfc_addresses,
)

StartSmtp = Callable[..., SmtpServer]


@pytest.fixture
def make_provider() -> Iterator[Callable[..., SmtpProvider]]:
    """SmtpProviders for a test server, closed afterwards."""
    made: list[SmtpProvider] = []

    def make(server: SmtpServer, **kwargs: object) -> SmtpProvider:
        provider = SmtpProvider(server.host, server.port, timeout=5, **kwargs)  # type: ignore[arg-type]
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


MakeProvider = Callable[..., SmtpProvider]


def test_delivers_to_every_envelope_recipient_without_a_bcc_header(
    smtp_server: SmtpServer, make_provider: MakeProvider, make_message: MessageFactory
) -> None:
    result = make_provider(smtp_server).send(make_message())

    assert result.provider == "smtp"
    assert result.message_id == "receipt-1@mailroom.test"
    assert result.rejected == {}
    [received] = smtp_server.handler.received
    assert received.mail_from == "sender@example.com"
    assert received.rcpt_tos == [
        "alice@example.com",
        "carol@example.com",
        "bob-hidden@example.com",
    ]
    msg = email.message_from_bytes(received.content, policy=email.policy.default)
    assert msg["Message-ID"] == "<receipt-1@mailroom.test>"
    assert msg["To"] == "alice@example.com"
    assert msg["Bcc"] is None
    assert b"bob-hidden" not in received.content


def test_lines_starting_with_a_dot_survive(
    smtp_server: SmtpServer, make_provider: MakeProvider, make_message: MessageFactory
) -> None:
    text = "line one\n.hidden line\n.\n..two dots\nend"
    make_provider(smtp_server).send(make_message(text=text, html=None, attachments=()))

    msg = email.message_from_bytes(
        smtp_server.handler.received[0].content, policy=email.policy.default
    )
    assert msg.get_content().replace("\r\n", "\n").rstrip("\n") == text


def test_a_recipient_listed_twice_gets_one_rcpt(
    smtp_server: SmtpServer, make_provider: MakeProvider, make_message: MessageFactory
) -> None:
    make_provider(smtp_server).send(
        make_message(to=("Alice <alice@example.com>",), cc=("alice@example.com",), bcc=())
    )

    assert smtp_server.handler.received[0].rcpt_tos == ["alice@example.com"]


def test_one_connection_carries_several_messages(
    smtp_server: SmtpServer, make_provider: MakeProvider, make_message: MessageFactory
) -> None:
    provider = make_provider(smtp_server)

    for n in range(3):
        provider.send(make_message(message_id=f"<m{n}@mailroom.test>"))

    received = smtp_server.handler.received
    assert len(received) == 3
    assert len({r.peer for r in received}) == 1


def test_concurrent_sends_share_the_connection_safely(
    smtp_server: SmtpServer, make_provider: MakeProvider, make_message: MessageFactory
) -> None:
    provider = make_provider(smtp_server)
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            provider.send(make_message(message_id=f"<t{n}@mailroom.test>"))
        except BaseException as err:  # collected, so the assertion below shows it
            errors.append(err)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    ids = sorted(
        email.message_from_bytes(r.content)["Message-ID"] for r in smtp_server.handler.received
    )
    assert ids == sorted(f"<t{n}@mailroom.test>" for n in range(8))
    assert len({r.peer for r in smtp_server.handler.received}) == 1


@pytest.mark.parametrize(
    "last_words",
    [b"", b"421 4.4.2 mx.test closing idle connection\r\n"],
    ids=["silent-close", "421-then-close"],
)
def test_reconnects_once_when_the_server_dropped_the_idle_connection(
    smtp_server: SmtpServer,
    make_provider: MakeProvider,
    make_message: MessageFactory,
    last_words: bytes,
) -> None:
    provider = make_provider(smtp_server)
    smtp_server.handler.hang_up_after_data = last_words
    provider.send(make_message(message_id="<before@mailroom.test>"))
    assert smtp_server.handler.hung_up.wait(timeout=5)

    result = provider.send(make_message(message_id="<after@mailroom.test>"))

    assert result.message_id == "after@mailroom.test"
    received = smtp_server.handler.received
    assert [email.message_from_bytes(r.content)["Message-ID"] for r in received] == [
        "<before@mailroom.test>",
        "<after@mailroom.test>",
    ]
    assert received[0].peer != received[1].peer


def test_close_quits_and_the_next_send_opens_a_new_connection(
    smtp_server: SmtpServer, make_provider: MakeProvider, make_message: MessageFactory
) -> None:
    provider = make_provider(smtp_server)
    provider.send(make_message())
    provider.close()
    provider.close()  # closing twice is harmless

    provider.send(make_message())

    received = smtp_server.handler.received
    assert len(received) == 2 and received[0].peer != received[1].peer


def test_authenticates_with_the_configured_credentials(
    start_smtp: StartSmtp, make_provider: MakeProvider, make_message: MessageFactory
) -> None:
    logins: list[bytes] = []

    def authenticator(*args: object) -> AuthResult:
        result = password_authenticator(*args)  # type: ignore[arg-type]
        logins.append(getattr(args[4], "login", b""))
        return result

    server = start_smtp(authenticator=authenticator, auth_require_tls=False)

    make_provider(server, username="mailroom", password="secret").send(make_message())

    assert logins == [b"mailroom"]
    assert len(server.handler.received) == 1


def test_starttls_then_delivers(
    start_smtp: StartSmtp,
    make_provider: MakeProvider,
    make_message: MessageFactory,
    server_tls_context: ssl.SSLContext,
    client_tls_context: ssl.SSLContext,
) -> None:
    server = start_smtp(tls_context=server_tls_context, require_starttls=True)

    make_provider(server, starttls=True, tls_context=client_tls_context).send(make_message())

    assert len(server.handler.received) == 1


def test_implicit_tls_then_delivers(
    start_smtp: StartSmtp,
    make_provider: MakeProvider,
    make_message: MessageFactory,
    server_tls_context: ssl.SSLContext,
    client_tls_context: ssl.SSLContext,
) -> None:
    server = start_smtp(ssl_context=server_tls_context)
    provider = make_provider(server, ssl=True, tls_context=client_tls_context)

    provider.send(make_message(message_id="<one@mailroom.test>"))
    provider.send(make_message(message_id="<two@mailroom.test>"))

    assert len(server.handler.received) == 2
    assert len({r.peer for r in server.handler.received}) == 1


def test_an_untrusted_certificate_is_a_configuration_error(
    start_smtp: StartSmtp,
    make_provider: MakeProvider,
    make_message: MessageFactory,
    server_tls_context: ssl.SSLContext,
) -> None:
    server = start_smtp(tls_context=server_tls_context, require_starttls=True)
    provider = make_provider(server, starttls=True)  # the system trust store: not our test CA

    with pytest.raises(ConfigurationError, match="certificate") as caught:
        provider.send(make_message())

    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
    assert server.handler.received == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"starttls": True, "ssl": True},
        {"timeout": 0},
        {"username": "mailroom"},
    ],
)
def test_contradictory_settings_fail_at_construction(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SmtpProvider("127.0.0.1", 25, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", list(HARD_CASES))
def test_long_names_addresses_and_ids_arrive_parseable(
    smtp_server: SmtpServer, make_provider: MakeProvider, make_message: MessageFactory, case: str
) -> None:
    message = make_message(attachments=(), **HARD_CASES[case])
    make_provider(smtp_server).send(message)

    [received] = smtp_server.handler.received
    msg = email.message_from_bytes(received.content, policy=email.policy.default)
    assert not msg.defects
    for header, values in (
        ("From", [message.from_addr]),
        ("To", message.to),
        ("Cc", message.cc),
        ("Reply-To", [message.reply_to] if message.reply_to else []),
    ):
        expected = [parseaddr(v) for v in values]
        assert rfc_addresses(received.content, header) == expected
        assert [a.addr_spec for a in msg[header].addresses] == [addr for _, addr in expected]
    assert msg["Message-ID"].strip() == message.message_id
    assert f"\r\n {message.message_id}\r\n".encode() in received.content.replace(
        b"Message-ID:", b"\r\n"
    )  # whole, never encoded
    assert str(msg["Subject"]) == message.subject
    assert [(name, str(msg[name])) for name, _ in message.headers] == list(message.headers)
    assert received.rcpt_tos == list(dict.fromkeys(parseaddr(v)[1] for v in message.recipients))
