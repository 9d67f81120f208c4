"""Send through the SendGrid v3 Mail Send API (`POST /v3/mail/send`).

The message goes as SendGrid's JSON, not as raw MIME, so SendGrid's own rules apply on top of
the MIME builder's: every address at most once across to, cc and bcc; text/plain before
text/html; at most 10 categories; some headers reserved. A message those rules make
impossible is refused here, before anything is sent.

Underneath is a urllib3 pool of keep-alive connections, as many as the process sends at once
(a new TLS connection per email would add a round-trip or two to every send). Its failures say
where they happened: while connecting (nothing was sent), or while waiting for the answer
(the request was complete: SendGrid may have accepted it). urllib3 never retries on its own.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
from typing import Any

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    SSLError,
)

from providers.addresses import split_address
from providers.base import OutboundEmail, Provider, SendResult
from providers.errors import (
    AmbiguousError,
    ConfigurationError,
    ProviderError,
    RejectedError,
    TransientError,
)
from providers.mime import build_mime

DEFAULT_HOST = "https://api.sendgrid.com"
# SendGrid's documented limit for a whole request, attachments included.
MAX_PAYLOAD_BYTES = 30 * 1024 * 1024
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
# Headers SendGrid sets itself (its docs list them), beyond those the MIME builder reserves.
SENDGRID_RESERVED_HEADERS = frozenset({"x-sg-id", "x-sg-eid", "received", "dkim-signature"})


class SendGridProvider(Provider):
    """SendGrid v3 Mail Send; the `X-Message-Id` of the 202 answer is the provider message id."""

    name = "sendgrid"

    def __init__(
        self,
        api_key: str | None = None,
        host: str = DEFAULT_HOST,
        timeout: float = 30.0,
        *,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        max_connections: int = 10,
    ) -> None:
        if timeout <= 0:
            raise ValueError("a SendGrid timeout must be positive: a send must never block forever")
        # Like the library itself, fall back to SENDGRID_API_KEY; a key still missing is reported
        # on send, as a configuration error, so that failover can move on to another provider.
        self._api_key = api_key or os.environ.get("SENDGRID_API_KEY") or None
        self.host = host.rstrip("/")
        self.timeout = timeout
        self.max_payload_bytes = max_payload_bytes
        # Thread-safe; connections open on first use and stay open for the next sends.
        self._pool = urllib3.PoolManager(
            maxsize=max_connections,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
        )

    def send(self, message: OutboundEmail) -> SendResult:
        """POST the message to /v3/mail/send; only a 202 counts as accepted."""
        if self._api_key is None:
            raise ConfigurationError("no SendGrid API key is configured", provider=self.name)
        payload = self.payload(message)
        size = len(json.dumps(payload).encode())
        if size > self.max_payload_bytes:
            raise RejectedError(
                f"request of {size} bytes exceeds the SendGrid limit of {self.max_payload_bytes}",
                provider=self.name,
            )
        try:
            response = self._pool.request(
                "POST",
                f"{self.host}/v3/mail/send",
                body=json.dumps(payload).encode(),
                headers={
                    "Authorization": f"Bearer {self._api_key}",
                    "Content-Type": "application/json",
                    "User-Agent": "mailroom",
                },
            )
        except (NewConnectionError, ConnectTimeoutError) as err:
            raise TransientError(f"cannot reach {self.host}: {err}", provider=self.name) from err
        except SSLError as err:
            raise self._tls_error(err) from err
        except (HTTPError, OSError) as err:
            # Raised while waiting for or reading the answer: the request was complete.
            raise AmbiguousError(
                f"no answer from SendGrid after the request was sent; it may have been "
                f"accepted: {err!r}",
                provider=self.name,
            ) from err
        status: int = response.status
        if 400 <= status:
            raise self._http_error(status, response.data)
        if status != 202:
            # 200 means "valid but not queued" (sandbox mode), never a delivery.
            raise ConfigurationError(
                f"SendGrid answered {status} instead of 202: the message was not queued",
                provider=self.name,
                status_code=status,
                response=_text(response.data),
            )
        # SendGrid always sends the header; without it, our own id still identifies the email.
        provider_id = response.headers.get("X-Message-Id") or message.message_id[1:-1]
        return SendResult(provider=self.name, message_id=provider_id)

    def payload(self, message: OutboundEmail) -> dict[str, Any]:
        """The v3 Mail Send JSON for `message`; raises RejectedError if SendGrid cannot carry it."""
        try:
            # The builder's checks (line breaks, header names, ASCII mailboxes) are the one
            # definition of a sendable message: SendGrid must not take what SMTP would refuse.
            build_mime(message)
        except ValueError as err:
            raise RejectedError(str(err), provider=self.name) from err
        personalization = self._personalization(message)
        payload: dict[str, Any] = {
            "personalizations": [personalization],
            "from": _address(message.from_addr),
            "subject": message.subject,
            "content": self._content(message),
            "headers": self._headers(message),
        }
        if message.reply_to:
            payload["reply_to"] = _address(message.reply_to)
        if message.attachments:
            payload["attachments"] = [
                {
                    "content": base64.b64encode(a.content).decode("ascii"),
                    "filename": a.filename,
                    "type": a.content_type,
                    "disposition": "attachment",
                }
                for a in message.attachments
            ]
        categories = _categories(message.tags)
        if categories:
            payload["categories"] = categories
        return payload

    # -- payload parts --------------------------------------------------------------------------

    def _personalization(self, message: OutboundEmail) -> dict[str, list[dict[str, str]]]:
        # SendGrid refuses an address that appears twice anywhere in a personalization; the
        # first place it appears wins (to, then cc, then bcc), as for SMTP's single RCPT.
        seen: set[str] = set()
        personalization: dict[str, list[dict[str, str]]] = {}
        for field, addresses in (("to", message.to), ("cc", message.cc), ("bcc", message.bcc)):
            entries = []
            for address in addresses:
                entry = _address(address)
                key = entry["email"].lower()
                if key not in seen:
                    seen.add(key)
                    entries.append(entry)
            if entries:
                personalization[field] = entries
        if "to" not in personalization:
            raise RejectedError(
                "SendGrid needs at least one To recipient; this message has none",
                provider=self.name,
            )
        return personalization

    def _content(self, message: OutboundEmail) -> list[dict[str, str]]:
        # SendGrid requires text/plain first when both are present, and refuses empty values.
        content = [
            {"type": ctype, "value": value}
            for ctype, value in (("text/plain", message.text), ("text/html", message.html))
            if value
        ]
        if not content:
            raise RejectedError("SendGrid refuses a message without a body", provider=self.name)
        return content

    def _headers(self, message: OutboundEmail) -> dict[str, str]:
        # Our Message-ID rides along so that every attempt, on every provider, carries the same.
        headers = {"Message-ID": message.message_id}
        for name, value in message.headers:
            if name.lower() in SENDGRID_RESERVED_HEADERS:
                raise RejectedError(f"header {name!r} is reserved by SendGrid", provider=self.name)
            if any(existing.lower() == name.lower() for existing in headers):
                # A JSON object holds one value per name; dropping one silently would lie.
                raise RejectedError(
                    f"header {name!r} appears twice; SendGrid can carry it once",
                    provider=self.name,
                )
            headers[name] = value
        return headers

    # -- errors ---------------------------------------------------------------------------------

    def _http_error(self, status: int, body: bytes) -> ProviderError:
        text = _text(body)
        messages = _error_messages(text)
        detail = "; ".join(messages) if messages else text[:500]
        cls: type[ProviderError]
        if status in (401, 403):
            cls = ConfigurationError  # bad key, missing scope, or an unverified sender identity
        elif status == 429 or status >= 500:
            cls = TransientError
        elif status == 413:
            cls = RejectedError
        elif status == 400:
            # SendGrid's validation errors describe the message; a 400 without them came from
            # something else on the way (a proxy, a load balancer) and may pass later.
            cls = RejectedError if messages else TransientError
        elif status in (404, 405, 415):
            cls = ConfigurationError  # the host setting does not point at the Mail Send API
        else:
            cls = TransientError
        return cls(
            f"SendGrid answered {status}: {detail}",
            provider=self.name,
            status_code=status,
            response=text,
        )

    def _tls_error(self, err: SSLError) -> ProviderError:
        # The handshake comes before the request: nothing was sent.
        reason = err.args[0] if err.args else err
        if isinstance(reason, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in str(err):
            return ConfigurationError(
                f"TLS certificate of {self.host} not trusted: {reason}", provider=self.name
            )
        return TransientError(f"TLS with {self.host} failed: {reason}", provider=self.name)

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._pool.clear()


def _address(value: str) -> dict[str, str]:
    name, email = split_address(value)
    entry = {"email": email or value}
    if name:
        entry["name"] = name
    return entry


def _categories(tags: tuple[str, ...]) -> list[str]:
    # Categories are SendGrid's statistics labels, tags are ours: tags SendGrid cannot hold
    # (too long, beyond the tenth) stay searchable in Mailroom and are simply not sent as such.
    categories: list[str] = []
    for tag in tags:
        if tag and len(tag) <= MAX_CATEGORY_LENGTH and tag not in categories:
            categories.append(tag)
    return categories[:MAX_CATEGORIES]


def _error_messages(text: str) -> list[str]:
    try:
        errors = json.loads(text).get("errors")
    except (ValueError, AttributeError):
        return []
    if not isinstance(errors, list):
        return []
    messages = []
    for error in errors:
        if isinstance(error, dict) and error.get("message"):
            field = f" (field {error['field']})" if error.get("field") else ""
            messages.append(f"{error['message']}{field}")
    return messages


def _text(body: bytes | str | None) -> str:
    if body is None:
        return ""
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else body
