"""DKIM signatures (RFC 6376) on the messages the SMTP provider sends.

SES and SendGrid sign with keys they hold; an SMTP relay often signs nothing, and mail that is
neither signed for the sender's domain nor sent from an address its SPF lists fails DMARC.

    signer = DkimSigner.load("mailroom", "example.com", "/etc/mailroom/dkim.pem")
    signed = signer.sign(message_bytes(message))
    # DNS: TXT at signer.record_name ("mailroom._domainkey.example.com") = signer.record

dkimpy parses the message, canonicalizes it (relaxed/relaxed) and hashes the fields exactly as
its verifier will; the RSA signature itself is OpenSSL's, through `cryptography`: dkimpy's is
pure-Python arithmetic, 10 to 35 ms of CPU per message against about 1 ms (a worker spends
about 1.3 ms on a whole bulk email). Those dkimpy functions are not documented API, hence the
pinned minor version and the tests that verify every signature with dkimpy's `verify`.

Every check of the settings happens in `load`, so a bad key fails when the provider is built,
not on the first send.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from dkim.canonicalization import CanonicalizationPolicy

# Fields signed when the message has them: what a recipient sees and what says how to read the
# body. Relays add others (Received, Return-Path), which must stay unsigned.
SIGNED_FIELDS = (
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
# RFC 8301: verifiers refuse RSA keys under 1024 bits; 2048 is what to generate.
MIN_KEY_BITS = 1024

_SIGNED = [name.lower().encode("ascii") for name in SIGNED_FIELDS]
_RELAXED = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+{_LABEL}")


class DkimSettingError(ValueError):
    """A DKIM setting that cannot be used; `setting` says which (`selector`, `domain` or
    `private_key`), so that the caller can name its own variable."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class DkimSigner:
    """Signs with one RSA key, for one selector of one domain."""

    selector: str
    domain: str
    key: rsa.RSAPrivateKey = field(repr=False, compare=False)

    @classmethod
    def load(cls, selector: str, domain: str, private_key: str) -> DkimSigner:
        """A signer from the settings' values; `private_key` is a PEM or the path of a PEM
        file. Raises DkimSettingError for anything unusable."""
        if not _SELECTOR.fullmatch(selector):
            raise DkimSettingError("selector", f"not a DNS name: {selector!r}")
        if not _DOMAIN.fullmatch(domain):
            raise DkimSettingError("domain", f"not a domain name (IDNs in ASCII form): {domain!r}")
        return cls(selector, domain.lower(), _load_key(private_key))

    @property
    def record_name(self) -> str:
        """Where verifiers look the public key up."""
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def public_key(self) -> str:
        """The p= of the DNS record: base64 of the DER SubjectPublicKeyInfo."""
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode("ascii")

    @property
    def record(self) -> str:
        """The TXT record to publish at `record_name`."""
        return f"v=DKIM1; k=rsa; p={self.public_key}"

    def sign(self, message: bytes, *, now: float | None = None) -> bytes:
        """`message` (CRLF line ends) with a DKIM-Signature field on top. Relaxed/relaxed: it
        survives relays that refold fields or change whitespace. Raises ValueError for a
        message dkimpy cannot parse."""
        try:
            headers, body = dkim.rfc822_parse(message)
        except dkim.DKIMException as err:
            raise ValueError(f"cannot DKIM-sign the message: {err}") from err
        present = {name.lower() for name, _ in headers}
        signed = [name for name in _SIGNED if name in present]
        body_hash = hashlib.sha256(_RELAXED.canonicalize_body(body)).digest()
        tags = b"; ".join(
            [
                b"v=1",
                b"a=rsa-sha256",
                b"c=relaxed/relaxed",
                b"d=" + self.domain.encode("ascii"),
                b"s=" + self.selector.encode("ascii"),
                b"t=%d" % int(time.time() if now is None else now),
                b"h=" + b" : ".join(signed),
                b"bh=" + base64.b64encode(body_hash),
                b"b=",
            ]
        )
        # What dkimpy's signer hashes: the signed fields, then this field with b= empty.
        digest = hashlib.sha256()
        dkim.hash_headers(
            digest,
            _RELAXED,
            _RELAXED.canonicalize_headers(headers),
            signed,
            (b"DKIM-Signature", b" " + tags),
            None,
        )
        signature = self.key.sign(
            digest.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
        )
        value: bytes = dkim.fold(tags + base64.b64encode(signature), namelen=len(b"DKIM-Signature"))
        return b"DKIM-Signature: " + value + b"\r\n" + message


def _load_key(value: str) -> rsa.RSAPrivateKey:
    text = value.strip()
    if text.startswith("-----BEGIN"):
        # An environment variable or a .env line often carries the PEM's newlines as "\n".
        data = (text if "\n" in text else text.replace("\\n", "\n")).encode("ascii", "replace")
    else:
        try:
            data = Path(text).read_bytes()
        except OSError as err:
            raise DkimSettingError(
                "private_key", f"neither a PEM nor a readable file: {text!r} ({err.strerror})"
            ) from err
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        # TypeError: an encrypted key. The value is never echoed: it may be most of a key.
        raise DkimSettingError("private_key", f"not an unencrypted PEM private key: {err}") from err
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DkimSettingError("private_key", "not an RSA key (DKIM here signs rsa-sha256)")
    if key.key_size < MIN_KEY_BITS:
        raise DkimSettingError(
            "private_key", f"an RSA key of {key.key_size} bits; verifiers refuse under 1024"
        )
    return key
