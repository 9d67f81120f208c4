"""Amazon SNS HTTP(S) notifications: the envelope, and the checks of its signature.

A webhook handles one POST like this:

    message = parse_sns(body)              # MalformedEvent: 400
    verifier.verify(message.fields)        # SignatureError: 403 (CertificateUnavailable: 503)
    if message.type == "SubscriptionConfirmation":
        if subscribe_url_allowed(message.subscribe_url): GET it (with a timeout)
    elif message.type == "Notification":
        events = ses_events(message)       # providers.events.ses; [] for what we do not track

A valid signature proves that SNS sent the message, not that the topic is ours: anyone can create
a topic in their own account, subscribe our URL and publish made-up bounces. So the verifier
refuses every message, confirmations included, whose topic is not in `allowed_topic_arns` (an
empty list refuses everything).

Certificate hosts are exact names on the scheme's default port; "host:port" names another port
(a local test server). The type, topic, timestamp and certificate URL are checked before any
fetch; a fetch has a short timeout, an overall deadline and a size cap, its result is cached and
so, briefly, is its failure, so forged messages cannot make an API worker wait on the network
more than once per certificate URL and interval.

The subscription must not use raw message delivery: without SNS's envelope nothing is signed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import IO, Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from providers.events.model import (
    CertificateUnavailable,
    Clock,
    MalformedEvent,
    SignatureError,
    utc_now,
)

HostRule = str | re.Pattern[str]
# SNS's certificate and confirmation hosts in every region, China's included.
DEFAULT_HOSTS: tuple[HostRule, ...] = (re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"),)
# Seconds per socket operation, and for the whole fetch: an API worker waits at most this.
FETCH_TIMEOUT = 2.0
FETCH_DEADLINE = 4.0
# A certificate URL that could not be fetched is not tried again for this long.
FAILURE_CACHE_SECONDS = 30.0
# SNS's certificates are about 2 KB; anything far larger is not one.
MAX_CERT_BYTES = 64 * 1024
# SNS keeps a message's Timestamp across its retries, which its delivery policies cap at an hour.
DEFAULT_MAX_AGE_SECONDS = 3600.0

_HASHES: Mapping[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,
    "2": hashes.SHA256,
}
_CONFIRMATION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
# Per type, the keys whose "Key\nValue\n" lines make the string to sign, in this order.
_SIGNED_KEYS: Mapping[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _CONFIRMATION_KEYS,
    "UnsubscribeConfirmation": _CONFIRMATION_KEYS,
}
_OPTIONAL_KEYS = frozenset({"Subject"})
_DEFAULT_PORTS = {"https": 443, "http": 80}
# SNS's certificate paths: one .pem file at the root ("/SimpleNotificationService-<id>.pem").
_CERT_PATH = re.compile(r"/[A-Za-z0-9._-]+\.pem")


@dataclass(frozen=True)
class SnsMessage:
    """One SNS POST body; `fields` is the whole JSON object, which is what gets verified."""

    type: str
    message_id: str
    topic_arn: str
    timestamp: datetime
    # The payload published to the topic: for SES, its JSON notification as a string.
    message: str
    subject: str | None = None
    subscribe_url: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)


def parse_sns(body: bytes) -> SnsMessage:
    """Read an SNS POST body; raise `MalformedEvent` when it is not one."""
    try:
        fields = json.loads(body)
    except ValueError as err:
        raise MalformedEvent("the SNS body is not JSON", provider="ses") from err
    if not isinstance(fields, dict):
        raise MalformedEvent("the SNS body is not a JSON object", provider="ses")
    kind = _required(fields, "Type")
    if kind not in _SIGNED_KEYS:
        raise MalformedEvent(f"unknown SNS message type {kind!r}", provider="ses")
    confirmation = kind != "Notification"
    if confirmation:
        _required(fields, "Token")
    timestamp = parse_time(_required(fields, "Timestamp"))
    if timestamp is None:
        raise MalformedEvent("the SNS Timestamp is not an ISO 8601 time", provider="ses")
    return SnsMessage(
        type=kind,
        message_id=_required(fields, "MessageId"),
        topic_arn=_required(fields, "TopicArn"),
        timestamp=timestamp,
        message=_required(fields, "Message"),
        subject=_optional(fields, "Subject"),
        subscribe_url=_required(fields, "SubscribeURL") if confirmation else None,
        fields=fields,
    )


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The bytes SNS signed for this message: AWS's key list for its type, "Key\\nValue\\n" each."""
    kind = message.get("Type")
    keys = _SIGNED_KEYS.get(kind) if isinstance(kind, str) else None
    if keys is None:
        raise SignatureError(f"cannot verify SNS type {kind!r}", provider="ses")
    lines = []
    for key in keys:
        value = message.get(key)
        if value is None and key in _OPTIONAL_KEYS:
            continue
        if not isinstance(value, str):
            raise SignatureError(f"the signed field {key} is missing", provider="ses")
        lines.append(f"{key}\n{value}\n")
    return "".join(lines).encode()


def url_allowed(url: str, allowed_hosts: Collection[HostRule], *, allow_http: bool = False) -> bool:
    """Whether `url` is https (or http if allowed) on a host matching one of `allowed_hosts`.

    A string rule is an exact host name, on the scheme's default port, or "host:port" for
    that port only; a compiled pattern must match the whole host name, on the default port.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in (("https", "http") if allow_http else ("https",)):
        return False
    # "https://sns.x.amazonaws.com@evil.example/" has evil.example for host; refuse userinfo
    # altogether so nobody has to think about it.
    if not host or parts.username is not None or parts.password is not None:
        return False
    default_port = _DEFAULT_PORTS[parts.scheme]
    port = default_port if port is None else port
    return any(_host_matches(rule, host, port, default_port) for rule in allowed_hosts)


def _host_matches(rule: HostRule, host: str, port: int, default_port: int) -> bool:
    if isinstance(rule, re.Pattern):
        return port == default_port and rule.fullmatch(host) is not None
    name, _, rule_port = rule.lower().rpartition(":")
    if not (name and rule_port.isdigit()):
        name, rule_port = rule.lower(), str(default_port)
    return name == host and int(rule_port) == port


def subscribe_url_allowed(
    url: str | None,
    allowed_hosts: Collection[HostRule] = DEFAULT_HOSTS,
    *,
    allow_http: bool = False,
) -> bool:
    """Whether a SubscribeURL may be visited: only SNS's own https endpoint, by default."""
    return url is not None and url_allowed(url, allowed_hosts, allow_http=allow_http)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Turn redirects into errors: the certificate must come from the allowed host itself."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


def fetch_url(
    url: str,
    timeout: float = FETCH_TIMEOUT,
    deadline: float = FETCH_DEADLINE,
    max_bytes: int = MAX_CERT_BYTES,
) -> tuple[int, bytes]:
    """GET `url` without following redirects: its status and at most `max_bytes` of body.

    OSError (timeouts included) when that fails, ValueError when the body is too large; a
    server that drips its answer is cut off after `deadline` seconds in all.
    """
    give_up = time.monotonic() + deadline
    opener = urllib.request.build_opener(_NoRedirects)
    chunks: list[bytes] = []
    size = 0
    with opener.open(url, timeout=timeout) as response:
        status = int(response.status)
        # read1: whatever has arrived (one recv), so the deadline is checked as bytes trickle.
        while chunk := response.read1(min(8192, max_bytes + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise ValueError(f"more than {max_bytes} bytes at {url}")
            if time.monotonic() > give_up:
                raise TimeoutError(f"{url} took more than {deadline:.0f}s to answer")
    return status, b"".join(chunks)


def fetch_certificate(url: str, timeout: float = FETCH_TIMEOUT) -> bytes:
    """GET `url` without following redirects; OSError (timeouts included) when that fails."""
    return fetch_url(url, timeout)[1]


class SnsVerifier:
    """Check SNS message signatures, caching the signing certificates by URL.

    `fetch` GETs a certificate URL (with a timeout) and signals failure with OSError or
    ValueError; a failure is remembered for `failure_cache_seconds`. `max_age_seconds=None`
    accepts any Timestamp. Only topics in `allowed_topic_arns` pass: none when it is empty.
    Safe to share between threads.
    """

    def __init__(
        self,
        allowed_cert_hosts: Collection[HostRule] = DEFAULT_HOSTS,
        fetch: Callable[[str], bytes] = fetch_certificate,
        cache_size: int = 16,
        *,
        allow_http: bool = False,
        allowed_topic_arns: Collection[str],
        max_age_seconds: float | None = DEFAULT_MAX_AGE_SECONDS,
        clock: Clock = utc_now,
        failure_cache_seconds: float = FAILURE_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self.allowed_cert_hosts = tuple(allowed_cert_hosts)
        self.allow_http = allow_http
        if isinstance(allowed_topic_arns, str):
            raise TypeError("allowed_topic_arns is a collection of ARNs, not one string")
        self.allowed_topic_arns = frozenset(allowed_topic_arns)
        self.max_age_seconds = max_age_seconds
        self.failure_cache_seconds = failure_cache_seconds
        self._fetch = fetch
        self._clock = clock
        self._monotonic = monotonic
        self._cache_size = cache_size
        self._keys: OrderedDict[str, rsa.RSAPublicKey] = OrderedDict()
        # URL -> (monotonic time until which it is not fetched again, what went wrong).
        self._failures: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, message: Mapping[str, Any]) -> None:
        """Return if SNS signed `message` (the POSTed JSON object); raise SignatureError if not."""
        if message.get("TopicArn") not in self.allowed_topic_arns:
            raise self._error(f"topic {message.get('TopicArn')!r} is not ours")
        version = message.get("SignatureVersion")
        hash_algorithm = _HASHES.get(version) if isinstance(version, str) else None
        if hash_algorithm is None:
            raise self._error(f"unsupported SignatureVersion {version!r}")
        cert_url = message.get("SigningCertURL")
        if not isinstance(cert_url, str) or not self._cert_url_allowed(cert_url):
            raise self._error(f"SigningCertURL {cert_url!r} is not an allowed certificate URL")
        self._check_age(message.get("Timestamp"))
        data = string_to_sign(message)
        signature = _decode_signature(message.get("Signature"))
        # Every check that needs no network is done: only now may a forged message cost a fetch.
        key = self._public_key(cert_url)
        try:
            key.verify(signature, data, padding.PKCS1v15(), hash_algorithm())
        except InvalidSignature as err:
            raise self._error("the signature does not match the message") from err

    def _cert_url_allowed(self, url: str) -> bool:
        # SNS's certificate URLs all name a .pem file at the root, with no query or fragment;
        # nothing else on those hosts is a key.
        if not url_allowed(url, self.allowed_cert_hosts, allow_http=self.allow_http):
            return False
        parts = urlsplit(url)
        return not (parts.query or parts.fragment) and _CERT_PATH.fullmatch(parts.path) is not None

    def _check_age(self, value: Any) -> None:
        timestamp = parse_time(value) if isinstance(value, str) else None
        if timestamp is None:
            raise self._error("the Timestamp is missing or not an ISO 8601 time")
        if self.max_age_seconds is None:
            return
        # Both ways: a Timestamp far in the future would stay "fresh" for too long.
        age = abs((self._clock() - timestamp).total_seconds())
        if age > self.max_age_seconds:
            raise self._error(f"the Timestamp {value} is {age:.0f}s away from now")

    def _public_key(self, url: str) -> rsa.RSAPublicKey:
        with self._lock:
            key = self._keys.get(url)
            if key is not None:
                self._keys.move_to_end(url)
                return key
            failed = self._failures.get(url)
            if failed is not None and failed[0] > self._monotonic():
                raise CertificateUnavailable(failed[1], provider="ses")
        # Fetched outside the lock: one slow fetch must not hold up messages whose key is cached.
        try:
            pem = self._fetch(url)
        except (OSError, ValueError) as err:
            problem = f"cannot fetch {url}: {err}"
            self._remember_failure(url, problem)
            raise CertificateUnavailable(problem, provider="ses") from err
        try:
            loaded = x509.load_pem_x509_certificate(pem).public_key()
        except ValueError as err:
            raise self._error(f"{url} does not hold a PEM certificate") from err
        if not isinstance(loaded, rsa.RSAPublicKey):
            raise self._error(f"the certificate at {url} does not hold an RSA key")
        key = loaded
        with self._lock:
            self._failures.pop(url, None)
            self._keys[url] = key
            self._keys.move_to_end(url)
            while len(self._keys) > self._cache_size:
                self._keys.popitem(last=False)
        return key

    def _remember_failure(self, url: str, problem: str) -> None:
        with self._lock:
            self._failures[url] = (self._monotonic() + self.failure_cache_seconds, problem)
            self._failures.move_to_end(url)
            while len(self._failures) > self._cache_size:
                self._failures.popitem(last=False)

    @staticmethod
    def _error(message: str) -> SignatureError:
        return SignatureError(message, provider="ses")


def parse_time(value: str) -> datetime | None:
    """An ISO 8601 time in UTC; a time without offset is taken as UTC, as AWS means it."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _decode_signature(value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        raise SignatureError("the Signature is missing", provider="ses")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as err:
        raise SignatureError("the Signature is not base64", provider="ses") from err


def _required(fields: Mapping[str, Any], key: str) -> str:
    value = fields.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"the SNS field {key} is missing or not a string", provider="ses")
    return value


def _optional(fields: Mapping[str, Any], key: str) -> str | None:
    value = fields.get(key)
    return value if isinstance(value, str) else None
