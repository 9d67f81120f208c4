"""SNS signature checks with real RSA keys and certificates; certificates come from a dict."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from providers.events import CertificateUnavailable, SignatureError, SnsVerifier
from providers.events.sns import string_to_sign, subscribe_url_allowed, url_allowed
from tests.support.signing import (
    SNS_CERT_URL,
    TOPIC_ARN,
    SnsSigner,
    iso,
    ses_delivery,
    sns_notification,
    sns_subscription_confirmation,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
OTHER_CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-other.pem"
OURS = [TOPIC_ARN]


class Certificates:
    """A fetch function over a dict of URL -> PEM that counts its calls."""

    def __init__(self, certs: Mapping[str, bytes]) -> None:
        self.certs = dict(certs)
        self.calls: Counter[str] = Counter()

    def __call__(self, url: str) -> bytes:
        self.calls[url] += 1
        if url not in self.certs:
            raise OSError(f"404 for {url}")
        return self.certs[url]


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner.generate()


@pytest.fixture(scope="module")
def other_signer() -> SnsSigner:
    return SnsSigner.generate()


@pytest.fixture
def certs(signer: SnsSigner, other_signer: SnsSigner) -> Certificates:
    return Certificates(
        {SNS_CERT_URL: signer.certificate_pem, OTHER_CERT_URL: other_signer.certificate_pem}
    )


@pytest.fixture
def verifier(certs: Certificates) -> SnsVerifier:
    return SnsVerifier(fetch=certs, clock=lambda: NOW, allowed_topic_arns=OURS)


def notification(**kwargs: Any) -> dict[str, Any]:
    """An unsigned notification of an SES delivery, published at NOW."""
    inner = ses_delivery("0102018f-ses-id", ["alice@example.com"], NOW)
    return sns_notification(inner, at=NOW, **kwargs)


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_notification_verifies(
    verifier: SnsVerifier, signer: SnsSigner, version: Literal["1", "2"]
) -> None:
    verifier.verify(signer.sign(notification(subject="Amazon SES Email Event"), version=version))
    verifier.verify(signer.sign(notification(), version=version))


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize(
    "change",
    [
        {"Message": '{"notificationType": "Bounce"}'},
        {"Subject": "Something else"},
        {"Timestamp": iso(NOW + timedelta(seconds=1))},
        {"TopicArn": TOPIC_ARN + "-2"},
        {"MessageId": "another-id"},
        {"Type": "SubscriptionConfirmation"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_changed_field_fails(
    verifier: SnsVerifier,
    signer: SnsSigner,
    version: Literal["1", "2"],
    change: dict[str, str],
) -> None:
    signed = signer.sign(notification(subject="Amazon SES Email Event"), version=version)

    with pytest.raises(SignatureError):
        verifier.verify({**signed, **change})


def test_adding_a_subject_after_signing_fails(verifier: SnsVerifier, signer: SnsSigner) -> None:
    signed = signer.sign(notification())

    with pytest.raises(SignatureError):
        verifier.verify({**signed, "Subject": "added"})


def test_unsigned_fields_may_change(verifier: SnsVerifier, signer: SnsSigner) -> None:
    signed = signer.sign(notification())

    verifier.verify({**signed, "UnsubscribeURL": "https://example.com/", "Extra": 1})


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/SimpleNotificationService-test.pem",
        "https://sns.eu-west-1.amazonaws.com@evil.example/cert.pem",
        "https://s3.amazonaws.com/SimpleNotificationService-test.pem",
        "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem",
        "https://sns.eu-west-1.amazonaws.com/not-a-certificate.txt",
        "ftp://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem",
        "//sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem",
        # Only the default port; only a .pem at the root, with no query or fragment.
        "https://sns.eu-west-1.amazonaws.com:81/SimpleNotificationService-test.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-test.pem",
        "https://sns.eu-west-1.amazonaws.com:99999/SimpleNotificationService-test.pem",
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem?x=1",
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem#x",
        "https://sns.eu-west-1.amazonaws.com/a/b/SimpleNotificationService-test.pem",
        "https://sns.eu-west-1.amazonaws.com/redirect?to=x.pem",
    ],
)
def test_a_certificate_url_off_the_allow_list_fails_without_fetching(
    verifier: SnsVerifier, signer: SnsSigner, certs: Certificates, cert_url: str
) -> None:
    certs.certs[cert_url] = signer.certificate_pem

    with pytest.raises(SignatureError, match="not an allowed certificate URL"):
        verifier.verify(signer.sign(notification(), cert_url=cert_url))
    assert not certs.calls


def test_china_regions_are_allowed(signer: SnsSigner) -> None:
    url = "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-cn.pem"
    verifier = SnsVerifier(
        fetch=Certificates({url: signer.certificate_pem}),
        clock=lambda: NOW,
        allowed_topic_arns=OURS,
    )

    verifier.verify(signer.sign(notification(), cert_url=url))


def test_a_message_signed_by_another_key_fails(
    verifier: SnsVerifier, other_signer: SnsSigner
) -> None:
    # The URL is allowed and its certificate loads, but it is not the key that signed.
    with pytest.raises(SignatureError, match="does not match"):
        verifier.verify(other_signer.sign(notification(), cert_url=SNS_CERT_URL))


def test_the_certificate_is_fetched_once_per_url(
    verifier: SnsVerifier, signer: SnsSigner, certs: Certificates
) -> None:
    verifier.verify(signer.sign(notification()))
    verifier.verify(signer.sign(notification(), version="2"))

    assert certs.calls == {SNS_CERT_URL: 1}


def test_the_cache_forgets_the_least_recently_used_url(
    signer: SnsSigner, other_signer: SnsSigner, certs: Certificates
) -> None:
    verifier = SnsVerifier(fetch=certs, cache_size=1, clock=lambda: NOW, allowed_topic_arns=OURS)

    verifier.verify(signer.sign(notification()))
    verifier.verify(other_signer.sign(notification(), cert_url=OTHER_CERT_URL))
    verifier.verify(signer.sign(notification()))

    assert certs.calls == {SNS_CERT_URL: 2, OTHER_CERT_URL: 1}


def test_a_failed_fetch_is_certificate_unavailable_and_cached_briefly(
    signer: SnsSigner, certs: Certificates
) -> None:
    now = [100.0]
    verifier = SnsVerifier(
        fetch=certs, clock=lambda: NOW, allowed_topic_arns=OURS, monotonic=lambda: now[0]
    )
    pem = certs.certs.pop(SNS_CERT_URL)
    message = signer.sign(notification())

    with pytest.raises(CertificateUnavailable):
        verifier.verify(message)
    certs.certs[SNS_CERT_URL] = pem
    # A flood of messages naming a URL that just failed costs no further fetch...
    for _ in range(3):
        with pytest.raises(CertificateUnavailable, match="404"):
            verifier.verify(message)
    assert certs.calls == {SNS_CERT_URL: 1}
    # ...until the failure is old enough to try again.
    now[0] += verifier.failure_cache_seconds + 1
    verifier.verify(message)
    assert certs.calls == {SNS_CERT_URL: 2}


def test_a_url_that_holds_no_certificate_fails(
    verifier: SnsVerifier, signer: SnsSigner, certs: Certificates
) -> None:
    certs.certs[SNS_CERT_URL] = b"<html>not a certificate</html>"

    with pytest.raises(SignatureError, match="PEM certificate") as caught:
        verifier.verify(signer.sign(notification()))
    assert not isinstance(caught.value, CertificateUnavailable)


@pytest.mark.parametrize(
    "change",
    [
        {"SignatureVersion": "3"},
        {"SignatureVersion": 1},
        {"SignatureVersion": None},
        {"Signature": "not base64!"},
        {"Signature": ""},
        {"Signature": "c2hvcnQ="},
        {"SigningCertURL": None},
        {"Timestamp": "yesterday"},
        {"Type": "Mystery"},
    ],
    ids=repr,
)
def test_missing_or_garbage_signature_fields_fail(
    verifier: SnsVerifier, signer: SnsSigner, change: dict[str, Any]
) -> None:
    with pytest.raises(SignatureError):
        verifier.verify({**signer.sign(notification()), **change})


@pytest.mark.parametrize("offset", [timedelta(hours=1, seconds=1), -timedelta(hours=1, seconds=1)])
def test_a_timestamp_over_an_hour_away_fails(
    certs: Certificates, signer: SnsSigner, offset: timedelta
) -> None:
    verifier = SnsVerifier(fetch=certs, clock=lambda: NOW + offset, allowed_topic_arns=OURS)

    with pytest.raises(SignatureError, match="away from now"):
        verifier.verify(signer.sign(notification()))
    assert not certs.calls


def test_the_max_age_is_configurable(certs: Certificates, signer: SnsSigner) -> None:
    later: Callable[[], datetime] = lambda: NOW + timedelta(days=3)  # noqa: E731
    message = signer.sign(notification())

    SnsVerifier(fetch=certs, clock=later, max_age_seconds=None, allowed_topic_arns=OURS).verify(
        message
    )
    SnsVerifier(
        fetch=certs, clock=later, max_age_seconds=4 * 86400, allowed_topic_arns=OURS
    ).verify(message)
    with pytest.raises(SignatureError):
        SnsVerifier(fetch=certs, clock=later, max_age_seconds=60, allowed_topic_arns=OURS).verify(
            message
        )


def test_only_allowed_topics_pass(certs: Certificates, signer: SnsSigner) -> None:
    # Anyone can sign with SNS's own key through a topic of their own: the topic must be ours.
    ours = SnsVerifier(fetch=certs, clock=lambda: NOW, allowed_topic_arns=OURS)
    ours.verify(signer.sign(notification()))

    with pytest.raises(SignatureError, match="not ours"):
        ours.verify(signer.sign(notification(topic_arn="arn:aws:sns:eu-west-1:666:theirs")))


def test_the_subscription_confirmation_string_to_sign_follows_aws() -> None:
    message = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37",
        "TopicArn": TOPIC_ARN,
        "Message": "You have chosen to subscribe.",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
        "Timestamp": "2024-05-01T12:00:00.000Z",
        "Subject": "ignored for confirmations",
        "SignatureVersion": "1",
    }

    assert string_to_sign(message) == (
        b"Message\nYou have chosen to subscribe.\n"
        b"MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n"
        b"SubscribeURL\nhttps://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription\n"
        b"Timestamp\n2024-05-01T12:00:00.000Z\n"
        b"Token\n2336412f37\n"
        b"TopicArn\n" + TOPIC_ARN.encode() + b"\n"
        b"Type\nSubscriptionConfirmation\n"
    )


def test_the_notification_string_to_sign_follows_aws() -> None:
    message = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": TOPIC_ARN,
        "Subject": "Hi",
        "Message": "line one\nline two",
        "Timestamp": "2024-05-01T12:00:00.000Z",
        "SubscribeURL": "not signed for notifications",
    }

    assert string_to_sign(message) == (
        b"Message\nline one\nline two\nMessageId\nm-1\nSubject\nHi\n"
        b"Timestamp\n2024-05-01T12:00:00.000Z\nTopicArn\n" + TOPIC_ARN.encode() + b"\n"
        b"Type\nNotification\n"
    )
    without_subject = {key: value for key, value in message.items() if key != "Subject"}
    assert b"Subject" not in string_to_sign(without_subject)


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
@pytest.mark.parametrize("version", ["1", "2"])
def test_signed_confirmations_verify_and_their_url_and_token_are_covered(
    verifier: SnsVerifier,
    signer: SnsSigner,
    kind: Literal["SubscriptionConfirmation", "UnsubscribeConfirmation"],
    version: Literal["1", "2"],
) -> None:
    signed = signer.sign(sns_subscription_confirmation(at=NOW, kind=kind), version=version)

    verifier.verify(signed)
    for change in ({"SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?x"}, {"Token": "t"}):
        with pytest.raises(SignatureError):
            verifier.verify({**signed, **change})


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=x", True),
        ("https://sns.cn-northwest-1.amazonaws.com.cn/?Action=ConfirmSubscription", True),
        ("https://SNS.EU-WEST-1.AMAZONAWS.COM/?Action=ConfirmSubscription", True),
        ("http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription", False),
        ("https://sns.eu-west-1.amazonaws.com.evil.example/", False),
        ("https://evil.example/?sns.eu-west-1.amazonaws.com", False),
        ("https://sns.eu-west-1.amazonaws.com@evil.example/", False),
        ("https://user@sns.eu-west-1.amazonaws.com/", False),
        ("https://sqs.eu-west-1.amazonaws.com/", False),
        ("https://[::1/", False),
        ("", False),
        (None, False),
    ],
)
def test_only_sns_subscribe_urls_may_be_visited(url: str | None, allowed: bool) -> None:
    assert subscribe_url_allowed(url) is allowed


def test_the_subscribe_url_allow_list_is_configurable() -> None:
    url = "http://127.0.0.1:8123/confirm"

    assert not subscribe_url_allowed(url, ["127.0.0.1:8123"])
    assert subscribe_url_allowed(url, ["127.0.0.1:8123"], allow_http=True)
    assert not subscribe_url_allowed(url, ["127.0.0.1"], allow_http=True)  # not port 80
    assert subscribe_url_allowed(url.replace(":8123", ""), ["127.0.0.1"], allow_http=True)
    assert not subscribe_url_allowed(url, ["localhost:8123"], allow_http=True)


def test_the_default_https_port_may_be_written_out(signer: SnsSigner) -> None:
    url = "https://sns.eu-west-1.amazonaws.com:443/SimpleNotificationService-test.pem"
    certs = Certificates({url: signer.certificate_pem})
    verifier = SnsVerifier(fetch=certs, clock=lambda: NOW, allowed_topic_arns=OURS)

    verifier.verify(signer.sign(notification(), cert_url=url))


@pytest.mark.parametrize("topics", [[], [TOPIC_ARN + "-2"]])
def test_a_topic_not_named_is_refused_before_any_fetch(
    certs: Certificates, signer: SnsSigner, topics: list[str]
) -> None:
    # An empty list refuses everything: there is no "any topic".
    verifier = SnsVerifier(fetch=certs, clock=lambda: NOW, allowed_topic_arns=topics)

    for message in (notification(), sns_subscription_confirmation(at=NOW)):
        with pytest.raises(SignatureError, match="not ours"):
            verifier.verify(signer.sign(message))
    assert not certs.calls


def test_the_topic_list_is_required() -> None:
    with pytest.raises(TypeError):
        SnsVerifier()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="not one string"):
        SnsVerifier(allowed_topic_arns=TOPIC_ARN)


@pytest.mark.parametrize(
    ("url", "rules", "allowed"),
    [
        # Exact names: a dot is a dot, not "any character".
        ("https://sns.us-east-1.amazonaws.com/c.pem", ["sns.us-east-1.amazonaws.com"], True),
        ("https://sns.us-east-1xamazonaws.com/c.pem", ["sns.us-east-1.amazonaws.com"], False),
        ("https://sns.us-east-1.amazonaws.com.evil/c.pem", ["sns.us-east-1.amazonaws.com"], False),
        ("https://SNS.US-EAST-1.amazonaws.com/c.pem", ["sns.us-east-1.amazonaws.com"], True),
        # The default port only, unless the rule names one; then that one only.
        ("https://sns.us-east-1.amazonaws.com:81/c.pem", ["sns.us-east-1.amazonaws.com"], False),
        ("https://sns.us-east-1.amazonaws.com:443/c.pem", ["sns.us-east-1.amazonaws.com"], True),
        ("http://127.0.0.1/c.pem", ["127.0.0.1"], True),
        ("http://127.0.0.1:8123/c.pem", ["127.0.0.1"], False),
        ("http://127.0.0.1:8123/c.pem", ["127.0.0.1:8123"], True),
        ("http://127.0.0.1:8124/c.pem", ["127.0.0.1:8123"], False),
        ("http://127.0.0.1/c.pem", ["127.0.0.1:8123"], False),
        # AWS's own pattern, on the default port only.
        (
            "https://sns.us-east-1.amazonaws.com:81/c.pem",
            [re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com")],
            False,
        ),
    ],
)
def test_certificate_hosts_match_exactly(url: str, rules: list[Any], allowed: bool) -> None:
    assert url_allowed(url, rules, allow_http=True) is allowed
