"""Keys, certificates, signatures and sample payloads for the provider webhooks, for tests.

SNS: `SnsSigner` holds a self-signed RSA certificate (CN sns.amazonaws.com) and signs messages
the way SNS does (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA); `CertServer` serves the
certificate over HTTP on 127.0.0.1 so that a SigningCertURL can point at it.
SendGrid: `SendGridSigner` holds an ECDSA P-256 key pair and makes the Signed Event Webhook's
headers for a body.

The string to sign is written out here again from AWS's documentation rather than imported from
`providers.events`, so the tests compare the implementation with an independent reading.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:mailroom-ses-events"
SNS_CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


def iso(at: datetime) -> str:
    """`at` the way AWS writes times: UTC, milliseconds, a Z."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def self_signed_certificate(key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    """A certificate for `key`, signed by itself, valid from yesterday for a year."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


@dataclass(frozen=True)
class SnsSigner:
    """An RSA key and its certificate, signing SNS messages as SNS would."""

    key: rsa.RSAPrivateKey
    certificate_pem: bytes

    @classmethod
    def generate(cls, common_name: str = "sns.amazonaws.com") -> SnsSigner:
        """A fresh 2048-bit key with a self-signed certificate."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = self_signed_certificate(key, common_name)
        return cls(key, certificate.public_bytes(serialization.Encoding.PEM))

    def sign(
        self,
        message: Mapping[str, Any],
        cert_url: str = SNS_CERT_URL,
        version: Literal["1", "2"] = "1",
    ) -> dict[str, Any]:
        """A copy of `message` with SignatureVersion, Signature and SigningCertURL set."""
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(sns_string_to_sign(message), padding.PKCS1v15(), algorithm)
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": cert_url,
        }


def sns_string_to_sign(message: Mapping[str, Any]) -> bytes:
    """What SNS signs: per key of the type's list that the message has, "Key\\nValue\\n"."""
    keys = _NOTIFICATION_KEYS if message["Type"] == "Notification" else _CONFIRMATION_KEYS
    return "".join(f"{key}\n{message[key]}\n" for key in keys if key in message).encode()


def sns_notification(
    inner: Mapping[str, Any] | str,
    *,
    topic_arn: str = TOPIC_ARN,
    at: datetime | None = None,
    subject: str | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """An unsigned SNS Notification envelope carrying `inner` (JSON-encoded unless a string)."""
    message = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Message": inner if isinstance(inner, str) else json.dumps(inner),
        "Timestamp": iso(at or datetime.now(UTC)),
        "UnsubscribeURL": f"https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:1",
    }
    if subject is not None:
        message["Subject"] = subject
    return message


def sns_subscription_confirmation(
    *,
    topic_arn: str = TOPIC_ARN,
    at: datetime | None = None,
    subscribe_url: str | None = None,
    kind: Literal["SubscriptionConfirmation", "UnsubscribeConfirmation"] = (
        "SubscriptionConfirmation"
    ),
) -> dict[str, Any]:
    """An unsigned SubscriptionConfirmation (or UnsubscribeConfirmation) as SNS sends it."""
    token = "2336412f37fb687f5d51e6e2425dacbba" + uuid.uuid4().hex
    return {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "Token": token,
        "TopicArn": topic_arn,
        "Message": f"You have chosen to subscribe to the topic {topic_arn}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": subscribe_url
        or "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
        f"&TopicArn={topic_arn}&Token={token}",
        "Timestamp": iso(at or datetime.now(UTC)),
    }


def ses_mail(message_id: str, destination: Iterable[str], at: datetime) -> dict[str, Any]:
    """SES's `mail` object: the message the notification is about."""
    return {
        "timestamp": iso(at),
        "messageId": message_id,
        "source": "Mailroom <sender@example.com>",
        "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/example.com",
        "sourceIp": "192.0.2.10",
        "sendingAccountId": "123456789012",
        "destination": list(destination),
        "headersTruncated": False,
        "commonHeaders": {"from": ["Mailroom <sender@example.com>"], "subject": "Your receipt"},
    }


def ses_delivery(message_id: str, recipients: Iterable[str], at: datetime) -> dict[str, Any]:
    """An SES Delivery notification."""
    recipients = list(recipients)
    return {
        "notificationType": "Delivery",
        "mail": ses_mail(message_id, recipients, at - timedelta(seconds=2)),
        "delivery": {
            "timestamp": iso(at),
            "processingTimeMillis": 1934,
            "recipients": recipients,
            "smtpResponse": "250 2.6.0 Message received",
            "remoteMtaIp": "198.51.100.7",
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
        },
    }


def ses_bounce(
    message_id: str, recipients: Iterable[str], at: datetime, *, permanent: bool = True
) -> dict[str, Any]:
    """An SES Bounce notification: Permanent/General (user unknown) or Transient/MailboxFull."""
    recipients = list(recipients)
    status, code = ("5.1.1", "550 5.1.1 user unknown") if permanent else ("4.2.2", "452 4.2.2 full")
    return {
        "notificationType": "Bounce",
        "mail": ses_mail(message_id, recipients, at - timedelta(seconds=3)),
        "bounce": {
            "bounceType": "Permanent" if permanent else "Transient",
            "bounceSubType": "General" if permanent else "MailboxFull",
            "bouncedRecipients": [
                {
                    "emailAddress": address,
                    "action": "failed",
                    "status": status,
                    "diagnosticCode": f"smtp; {code}",
                }
                for address in recipients
            ],
            "timestamp": iso(at),
            "feedbackId": "0102018f3a-bounce-feedback-000000",
            "remoteMtaIp": "198.51.100.7",
            "reportingMTA": "dsn; a27-23.smtp-out.eu-west-1.amazonses.com",
        },
    }


def ses_complaint(message_id: str, recipients: Iterable[str], at: datetime) -> dict[str, Any]:
    """An SES Complaint notification, from a feedback loop."""
    recipients = list(recipients)
    return {
        "notificationType": "Complaint",
        "mail": ses_mail(message_id, recipients, at - timedelta(hours=1)),
        "complaint": {
            "userAgent": "ExampleCorp Feedback Loop (V0.01)",
            "complainedRecipients": [{"emailAddress": address} for address in recipients],
            "complaintFeedbackType": "abuse",
            "arrivalDate": iso(at - timedelta(minutes=1)),
            "timestamp": iso(at),
            "feedbackId": "0102018f3a-complaint-feedback-000000",
        },
    }


@dataclass(frozen=True)
class SendGridSigner:
    """An ECDSA P-256 key pair signing Event Webhook bodies as SendGrid would."""

    key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> SendGridSigner:
        """A fresh key pair."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_key_b64(self) -> str:
        """The public key as SendGrid's settings page shows it: base64 of the DER SPKI."""
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    @property
    def public_key_pem(self) -> str:
        """The same public key as PEM."""
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The signature and timestamp headers for `body` (timestamp: now unless given)."""
        stamp = str(int(datetime.now(UTC).timestamp()) if timestamp is None else timestamp)
        signature = self.key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            SENDGRID_SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            SENDGRID_TIMESTAMP_HEADER: stamp,
        }


def sendgrid_event(
    event: str, sg_message_id: str | None, email: str, timestamp: int, **fields: Any
) -> dict[str, Any]:
    """One Event Webhook event with the fields every event has, plus `fields`."""
    item: dict[str, Any] = {
        "email": email,
        "timestamp": timestamp,
        "event": event,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "sg_event_id": f"sg-{event}-{uuid.uuid4().hex[:16]}",
        "category": ["receipts"],
        **fields,
    }
    if sg_message_id is not None:
        item["sg_message_id"] = sg_message_id
    return item


def sendgrid_batch(x_message_id: str, email: str, timestamp: int) -> list[dict[str, Any]]:
    """One event of each kind SendGrid sends about one message, as a webhook body would hold."""
    sg_id = f"{x_message_id}.filterdrecv-5645d9c87f-2mwq7-1-5E5F1FE8-1.0"
    return [
        sendgrid_event("processed", sg_id, email, timestamp, pool={"name": "new", "id": 1}),
        sendgrid_event("deferred", sg_id, email, timestamp, response="400 try again", attempt="1"),
        sendgrid_event("delivered", sg_id, email, timestamp, response="250 OK", ip="192.0.2.4"),
        sendgrid_event(
            "bounce",
            sg_id,
            email,
            timestamp,
            type="bounce",
            bounce_classification="Invalid Address",
            reason="550 5.1.1 The email account that you tried to reach does not exist.",
            status="5.1.1",
        ),
        sendgrid_event(
            "bounce",
            sg_id,
            email,
            timestamp,
            type="blocked",
            bounce_classification="Reputation",
            reason="421 4.7.0 Try again later, closing connection.",
            status="4.7.0",
        ),
        sendgrid_event(
            "dropped", sg_id, email, timestamp, reason="Bounced Address", status="5.0.0"
        ),
        sendgrid_event("spamreport", sg_id, email, timestamp),
        sendgrid_event(
            "open", sg_id, email, timestamp, useragent="Mozilla/5.0", sg_machine_open=False
        ),
        sendgrid_event("click", sg_id, email, timestamp, url="https://example.com/receipt?id=42"),
        sendgrid_event("unsubscribe", sg_id, email, timestamp),
        sendgrid_event("group_unsubscribe", sg_id, email, timestamp, asm_group_id=42),
    ]


def json_body(payload: Any) -> bytes:
    """`payload` as compact JSON bytes, the way providers POST it."""
    return json.dumps(payload, separators=(",", ":")).encode()


class CertServer:
    """A stdlib HTTP server on 127.0.0.1 (free port, own thread) serving given files.

    `hits` counts GETs per path, so tests can tell whether a client cached what it fetched.
    Paths without content answer 404; `redirect()` makes a path answer 302.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.hits: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        # A short poll interval so that stopping, which waits for one poll, is quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        """The http URL of `path` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, content: bytes) -> str:
        """Serve `content` at `path`; returns its URL."""
        self.files[path] = content
        return self.url(path)

    def redirect(self, path: str, location: str) -> str:
        """Answer 302 to `location` at `path`; returns the URL of `path`."""
        self.redirects[path] = location
        return self.url(path)

    def start(self) -> CertServer:
        """Start serving in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> CertServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] += 1
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                content = server.files.get(self.path)
                if content is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-pem-file")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output quiet."""

        return Handler
