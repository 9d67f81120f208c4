"""Status callbacks reach only public addresses, resolved at each attempt; no redirects; errors
say what kind of failure, not what answered.

Emails and endpoints go through the API (the Flask test client on SQLite); the callback task runs
here. The receiver is a real HTTP server on 127.0.0.1; "a name that resolves to a private
address" is made by replacing `tasks.callback_http.resolve`, the one function that looks names
up, so the rest (the address check, the pinned connection) runs as in production.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest
from celery.exceptions import Retry
from flask.testing import FlaskClient

from tasks import callback_http, callbacks
from tests.conftest import Keys
from tests.tasks.test_worker_outcomes import (
    Receiver,
    Worker,
    deliveries,
    register,
    send,
    status_change,
)
from tests.tasks.test_worker_outcomes import worker as worker  # noqa: F401 - the fixture

REFUSED = "refused: the host resolves to a non-public address"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(200)
    yield receiver
    receiver.stop()


def attempt(client: FlaskClient, keys: Keys, url: str) -> dict[str, Any]:
    """Register `url`, make one status change, run its callback once; the delivery afterwards."""
    email_id = send(client, keys)
    endpoint = register(client, keys, url, ["sent"])
    status_change(email_id, "sent")
    [delivery] = deliveries(client, keys, endpoint)
    try:
        callbacks.deliver_callback(delivery["deliveryId"])
    except Retry:  # a refused attempt is retried like any failure
        pass
    [after] = deliveries(client, keys, endpoint)
    return after


def test_loopback_is_refused_without_the_test_setting(
    client: FlaskClient, keys: Keys, worker: Worker, receiver: Receiver
) -> None:
    worker.configure(MAILROOM_CALLBACKS_ALLOW_LOOPBACK="false")

    refused = attempt(client, keys, receiver.url)

    assert (refused["lastError"], refused["lastStatusCode"]) == (REFUSED, None)
    assert receiver.posts == []

    worker.configure(MAILROOM_CALLBACKS_ALLOW_LOOPBACK="true")
    allowed = attempt(client, keys, receiver.url)
    assert (allowed["state"], allowed["lastStatusCode"]) == ("delivered", 200)
    assert len(receiver.posts) == 1


@pytest.mark.parametrize(
    "address", ["10.1.2.3", "192.168.0.7", "169.254.169.254", "::ffff:10.0.0.1"]
)
def test_a_name_that_resolves_to_a_private_address_is_refused_at_each_attempt(
    client: FlaskClient,
    keys: Keys,
    worker: Worker,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    address: str,
) -> None:
    # Registered while the name pointed at the (allowed, in tests) receiver; then DNS changed.
    port = receiver.url.split(":")[2].split("/")[0]
    url = f"http://hooks.example.com:{port}/hook"
    answers = {"hooks.example.com": ["127.0.0.1"]}
    monkeypatch.setattr(callback_http, "resolve", lambda host, port: answers[host])
    assert attempt(client, keys, url)["lastStatusCode"] == 200

    answers["hooks.example.com"] = [address]
    refused = attempt(client, keys, url)

    assert (refused["lastError"], refused["lastStatusCode"]) == (REFUSED, None)
    assert len(receiver.posts) == 1  # only the first attempt got through


def test_one_private_answer_among_public_ones_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(callback_http, "resolve", lambda host, port: ["93.184.216.34", "10.0.0.1"])

    with pytest.raises(callback_http.CallbackRefused, match="non-public"):
        callback_http.checked_address("https://hooks.example.com/x")


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "::1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "fe80::1",
     "fc00::1", "224.0.0.1", "ff02::1", "240.0.0.1", "0.0.0.0", "100.64.0.1", "::ffff:127.0.0.1"],
)  # fmt: skip
def test_internal_addresses_are_forbidden(address: str) -> None:
    assert callback_http.forbidden(ipaddress.ip_address(address))


def test_public_addresses_are_allowed_and_loopback_only_when_told() -> None:
    assert not callback_http.forbidden(ipaddress.ip_address("93.184.216.34"))
    assert not callback_http.forbidden(ipaddress.ip_address("2606:2800:220:1::1"))
    assert not callback_http.forbidden(ipaddress.ip_address("127.0.0.1"), allow_loopback=True)
    assert callback_http.forbidden(ipaddress.ip_address("10.0.0.1"), allow_loopback=True)


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.com/x", "file:///etc/passwd", "http://user:pw@hooks.example.com/"]
)
def test_only_plain_http_and_https_urls_are_called(url: str) -> None:
    with pytest.raises(callback_http.CallbackRefused):
        callback_http.checked_address(url)


def test_redirects_are_not_followed(
    client: FlaskClient, keys: Keys, worker: Worker, receiver: Receiver
) -> None:
    receiver.status = 302  # Location-less, and never followed anyway
    redirected = attempt(client, keys, receiver.url)

    assert (redirected["lastStatusCode"], redirected["lastError"]) == (302, "HTTP 302")
    assert redirected["state"] == "pending" and len(receiver.posts) == 1


def test_errors_do_not_say_what_answered(client: FlaskClient, keys: Keys, worker: Worker) -> None:
    gone = Receiver(200)
    url = gone.url
    gone.stop()  # nobody listens there any more: refused by the system
    failed = attempt(client, keys, url)

    assert (failed["lastError"], failed["lastStatusCode"]) == ("connection failed", None)
