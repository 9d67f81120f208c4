"""DKIM signing: every signature checked by dkimpy's verifier against the public key served
through its DNS lookup hook, on its own and after a trip through a real aiosmtpd server."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from providers.dkim import DkimSigner
from providers.mime import build_mime, message_bytes, to_bytes
from providers.registry import ProviderSettings, build_providers
from providers.smtp import SmtpProvider
from tests.providers.provider_testkit import HARD_CASES, MessageFactory, SmtpServer

SELECTOR, DOMAIN = "mailroom", "example.com"
UNSUBSCRIBE = (
    ("List-Unsubscribe", "<https://mail.example.com/u/" + "t" * 90 + ">"),
    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
)


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, form: str = "pkcs8") -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8
        if form == "pkcs8"
        else serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signer(key: rsa.RSAPrivateKey) -> DkimSigner:
    return DkimSigner.load(SELECTOR, DOMAIN, _pem(key))


def dns_serving(
    record: str, name: str = f"{SELECTOR}._domainkey.{DOMAIN}."
) -> Callable[..., bytes | None]:
    """dkimpy's DNS hook, answering one TXT record at one name and nothing elsewhere."""
    asked: list[bytes] = []

    def lookup(qname: bytes, timeout: float = 5) -> bytes | None:
        asked.append(qname)
        return record.encode("ascii") if qname == name.encode("ascii") else None

    lookup.asked = asked  # type: ignore[attr-defined]
    return lookup


def verify(signed: bytes, signer: DkimSigner) -> bool:
    result: bool = dkim.verify(signed, dnsfunc=dns_serving(signer.record))
    return result


def signed_fields(signed: bytes) -> list[str]:
    header = signed.split(b"\r\n\r\n", 1)[0].decode()
    value = re.search(r"h=([^;]*);", re.sub(r"\r\n\s+", " ", header))
    assert value is not None
    return [name.strip() for name in value.group(1).split(":")]


@pytest.mark.parametrize("case", ["plain", "unsubscribe", "attachment", *HARD_CASES])
def test_every_signature_verifies_with_dkimpy(
    make_message: MessageFactory, signer: DkimSigner, case: str
) -> None:
    overrides = dict(HARD_CASES.get(case, {}))
    if case == "unsubscribe":
        overrides["headers"] = UNSUBSCRIBE
    message = make_message(**overrides, **({} if case == "attachment" else {"attachments": ()}))
    raw = to_bytes(build_mime(message)) if case == "attachment" else message_bytes(message)
    signed = signer.sign(raw)

    assert signed.endswith(raw) and signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
    assert verify(signed, signer)
    expected = ["from", "to", "cc", "reply-to", "subject", "date", "message-id"]
    expected += ["mime-version", "content-type"]
    if case == "unsubscribe" or "List-Unsubscribe" in dict(message.headers):
        expected += ["list-unsubscribe", "list-unsubscribe-post"]
    assert signed_fields(signed) == expected


def test_only_the_fields_present_are_signed(
    make_message: MessageFactory, signer: DkimSigner
) -> None:
    message = make_message(cc=(), reply_to=None, attachments=())
    signed = signer.sign(message_bytes(message))

    assert signed_fields(signed) == [
        "from", "to", "subject", "date", "message-id", "mime-version", "content-type"
    ]  # fmt: skip
    assert verify(signed, signer)


def test_the_public_key_is_looked_up_under_the_selector(
    make_message: MessageFactory, signer: DkimSigner
) -> None:
    lookup = dns_serving(signer.record)
    assert dkim.verify(signer.sign(message_bytes(make_message(attachments=()))), dnsfunc=lookup)
    assert lookup.asked == [b"mailroom._domainkey.example.com."]  # type: ignore[attr-defined]
    assert signer.record_name == "mailroom._domainkey.example.com"
    assert signer.record.startswith(
        "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"
    )


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda m: m.replace(b"Thanks for your order.", b"Thanks for your order!"),
                     id="body changed"),
        pytest.param(lambda m: m + b"appended line\r\n", id="body extended"),
        pytest.param(lambda m: m.replace(b"Subject: Your receipt", b"Subject: Your receipt!"),
                     id="subject changed"),
        pytest.param(lambda m: m.replace(b"To: alice@example.com", b"To: mallory@example.com"),
                     id="recipient changed"),
    ],
)  # fmt: skip
def test_a_changed_message_fails_verification(
    make_message: MessageFactory, signer: DkimSigner, tamper: Callable[[bytes], bytes]
) -> None:
    signed = signer.sign(message_bytes(make_message(attachments=())))
    assert verify(signed, signer)

    changed = tamper(signed)
    assert changed != signed
    assert not verify(changed, signer)


def test_what_relays_do_keeps_the_signature_valid(
    make_message: MessageFactory, signer: DkimSigner
) -> None:
    signed = signer.sign(message_bytes(make_message(attachments=())))
    relayed = b"Received: from relay.example by mx.example; Mon, 1 Jan 2024\r\n" + signed
    relayed = relayed.replace(b"Subject: Your receipt", b"Subject:   Your\r\n\treceipt")
    # Trailing spaces on a line and empty lines at the end are what relaxed body
    # canonicalization forgives.
    relayed = relayed.replace(b"Thanks for your order.\r\n", b"Thanks for  your order. \t\r\n")
    relayed += b"\r\n\r\n"

    assert verify(relayed, signer)


def test_another_key_in_dns_fails_verification(
    make_message: MessageFactory, signer: DkimSigner
) -> None:
    other = DkimSigner.load(SELECTOR, DOMAIN, _pem(rsa.generate_private_key(65537, 2048)))
    signed = signer.sign(message_bytes(make_message(attachments=())))

    assert not dkim.verify(signed, dnsfunc=dns_serving(other.record))


@pytest.mark.parametrize("form", ["pkcs8", "pkcs1", "file", "escaped newlines"])
def test_the_key_may_be_a_pem_a_file_or_a_pem_on_one_line(
    key: rsa.RSAPrivateKey,
    make_message: MessageFactory,
    tmp_path: Path,
    form: str,
) -> None:
    pem = _pem(key, "pkcs1" if form == "pkcs1" else "pkcs8")
    if form == "file":
        (tmp_path / "dkim.pem").write_text(pem)
        value = str(tmp_path / "dkim.pem")
    elif form == "escaped newlines":
        value = pem.strip().replace("\n", "\\n")
    else:
        value = pem
    signer = DkimSigner.load(SELECTOR, DOMAIN, value)

    assert verify(signer.sign(message_bytes(make_message(attachments=()))), signer)


def smtp_settings(server: SmtpServer, **dkim_values: str) -> ProviderSettings:
    values: dict[str, Any] = {"smtp_host": server.host, "smtp_port": server.port, **dkim_values}
    return ProviderSettings(**values, smtp_timeout=5)


def test_a_message_signed_by_the_smtp_provider_verifies_where_it_arrives(
    smtp_server: SmtpServer, make_message: MessageFactory, key: rsa.RSAPrivateKey
) -> None:
    settings = smtp_settings(
        smtp_server,
        smtp_dkim_selector=SELECTOR,
        smtp_dkim_domain=DOMAIN,
        smtp_dkim_private_key=_pem(key),
    )
    [provider] = build_providers(["smtp"], settings)
    assert isinstance(provider, SmtpProvider) and provider.dkim is not None
    try:
        provider.send(make_message(attachments=(), headers=UNSUBSCRIBE))
        provider.send(make_message())  # with an attachment: the email package's path
        provider.send(make_message(attachments=(), **HARD_CASES["cjk display name"]))
    finally:
        provider.close()

    assert len(smtp_server.handler.received) == 3
    for received in smtp_server.handler.received:
        assert received.content.startswith(b"DKIM-Signature: ")
        assert verify(received.content, provider.dkim)
        assert not verify(received.content.replace(b"Thanks", b"Thank"), provider.dkim)


def test_without_dkim_settings_nothing_is_signed(
    smtp_server: SmtpServer, make_message: MessageFactory
) -> None:
    [provider] = build_providers(["smtp"], smtp_settings(smtp_server))
    assert isinstance(provider, SmtpProvider) and provider.dkim is None
    try:
        provider.send(make_message())
    finally:
        provider.close()
    assert b"DKIM-Signature" not in smtp_server.handler.received[0].content


def _bad_values(tmp_path: Path) -> dict[str, tuple[dict[str, str], str]]:
    good = _pem(rsa.generate_private_key(65537, 2048))
    encrypted = rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    full = {"smtp_dkim_selector": SELECTOR, "smtp_dkim_domain": DOMAIN}
    return {
        "missing file": (
            {**full, "smtp_dkim_private_key": str(tmp_path / "absent.pem")},
            r"^SMTP_DKIM_PRIVATE_KEY: neither a PEM nor a readable file: .*absent\.pem",
        ),
        "not a key": (
            {**full, "smtp_dkim_private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END"},
            r"^SMTP_DKIM_PRIVATE_KEY: not an unencrypted PEM private key",
        ),
        "encrypted": (
            {**full, "smtp_dkim_private_key": encrypted.decode()},
            r"^SMTP_DKIM_PRIVATE_KEY: not an unencrypted PEM private key",
        ),
        "elliptic curve": (
            {**full, "smtp_dkim_private_key": _pem(ec.generate_private_key(ec.SECP256R1()))},
            r"^SMTP_DKIM_PRIVATE_KEY: not an RSA key",
        ),
        "bad selector": (
            {**full, "smtp_dkim_selector": "mail room", "smtp_dkim_private_key": good},
            r"^SMTP_DKIM_SELECTOR: not a DNS name: 'mail room'",
        ),
        "bad domain": (
            {**full, "smtp_dkim_domain": "localhost", "smtp_dkim_private_key": good},
            r"^SMTP_DKIM_DOMAIN: not a domain name",
        ),
        "key alone": (
            {"smtp_dkim_private_key": good},
            r"^SMTP_DKIM_SELECTOR, SMTP_DKIM_DOMAIN must be set too",
        ),
        "no key": (full, r"^SMTP_DKIM_PRIVATE_KEY must be set too"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing file", "not a key", "encrypted", "elliptic curve", "bad selector", "bad domain",
     "key alone", "no key"],
)  # fmt: skip
def test_a_bad_dkim_setting_fails_at_build_naming_the_variable(
    tmp_path: Path, smtp_server: SmtpServer, case: str
) -> None:
    values, message = _bad_values(tmp_path)[case]
    with pytest.raises(ValueError, match=message) as caught:
        build_providers(["smtp"], smtp_settings(smtp_server, **values))
    assert "AAAA" not in str(caught.value) and "BEGIN" not in str(caught.value)
