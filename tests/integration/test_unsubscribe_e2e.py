"""One-click unsubscribe (RFC 8058) for real: the headers a list send carries, the link a mail
provider POSTs, and the suppression a later batch meets."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request

import pytest

from tests.support.smtp_sink import Received, SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]
PUBLIC = "https://mail.example.com"


def wait_for_mail(sink: SmtpSink, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(sink.received) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(sink.received) >= n, [r.rcpt_tos for r in sink.received]


def mail_to(sink: SmtpSink, address: str) -> Received:
    (found,) = [r for r in sink.received if r.rcpt_tos == [address]]
    return found


def unsubscribe_url(stack: Stack, message: Received, mailto: str) -> str:
    """The link of List-Unsubscribe, after checking the field's whole shape, on the test's API
    (the public URL is the name the API would have behind a proxy)."""
    value = str(message.message["List-Unsubscribe"])
    pattern = rf"<{re.escape(PUBLIC)}/u/([^>]+)>, <mailto:([^?>]+)\?subject=unsubscribe>"
    match = re.fullmatch(pattern, value)
    assert match, value
    assert match.group(2) == mailto
    assert message.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return f"{stack.api_url}/u/{match.group(1)}"


def call(method: str, url: str, body: bytes | None = None) -> tuple[int, str, bytes]:
    """A request as a mail provider or a browser makes it: no API key."""
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers.get_content_type(), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get_content_type(), err.read()


def suppressions(stack: Stack, address: str) -> list[dict[str, str]]:
    status, answer = stack.request("GET", f"/suppressions?address={address}")
    assert status == 200, answer
    return list(answer["data"]["items"])


def test_one_click_unsubscribe_from_a_list(stack: Stack, smtp_sink: SmtpSink) -> None:
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_sink.port),
            "MAILROOM_UNSUBSCRIBE_SECRET": "test-unsubscribe-secret",
            "MAILROOM_UNSUBSCRIBE_MAILTO": "unsubscribe@example.com",
            "MAILROOM_PUBLIC_URL": PUBLIC,
        }
    )
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker(concurrency=1)

    status, answer = stack.request("POST", "/lists", {"name": "news"})
    assert status == 201, answer
    list_id = answer["data"]["listId"]
    members = [{"email": "ann@example.com"}, {"email": "bob@example.com"}]
    status, answer = stack.request("POST", f"/lists/{list_id}/members", {"members": members})
    assert status in (200, 201), answer
    status, answer = stack.request(
        "POST",
        "/send/batch",
        {"from": "news@example.com", "subject": "News", "text": "Hello", "listId": list_id},
    )
    assert status == 200, answer
    wait_for_mail(smtp_sink, 2)
    ann_url = unsubscribe_url(
        stack, mail_to(smtp_sink, "ann@example.com"), "unsubscribe@example.com"
    )
    bob_url = unsubscribe_url(
        stack, mail_to(smtp_sink, "bob@example.com"), "unsubscribe@example.com"
    )
    assert ann_url.startswith(f"{stack.api_url}/u/") and ann_url != bob_url

    # A GET (a link scanner, the recipient's browser) shows a button and changes nothing.
    status, kind, page = call("GET", ann_url)
    assert (status, kind) == (200, "text/html"), page
    assert b'<form method="post">' in page and b"ann@example.com" in page
    assert suppressions(stack, "ann@example.com") == []

    # Ann's token with one character changed, or Bob's signature on Ann's payload: refused.
    token = ann_url.rpartition("/u/")[2]
    payload, _, signature = token.rpartition(".")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (flipped, f"{payload}.{bob_url.rpartition('.')[2]}"):
        status, _, body = call("POST", f"{stack.api_url}/u/{bad}", b"List-Unsubscribe=One-Click")
        assert status == 400, body
    assert b"the unsubscribe link is not valid" in body
    assert suppressions(stack, "ann@example.com") == []
    assert signature

    # The provider's one-click POST: 200, and Ann (only Ann) is suppressed, from this list.
    status, _, body = call("POST", ann_url, b"List-Unsubscribe=One-Click")
    assert status == 200, body
    (entry,) = suppressions(stack, "ann@example.com")
    assert (entry["reason"], entry["source"]) == ("unsubscribe", "unsubscribe")
    assert entry["detail"] == f"one-click unsubscribe (list:{list_id})"
    assert suppressions(stack, "bob@example.com") == []
    status, answer = stack.request("GET", f"/lists/{list_id}/members")
    assert status == 200, answer
    shown = {m["email"]: (m["suppressed"], m["suppressionSource"]) for m in answer["data"]["items"]}
    assert shown == {"ann@example.com": (True, "unsubscribe"), "bob@example.com": (False, None)}
    # A provider retrying the POST gets 200 again.
    assert call("POST", ann_url, b"List-Unsubscribe=One-Click")[0] == 200

    # A later batch: Ann's email ends `suppressed`, Bob's is sent with a sender-scoped link.
    status, answer = stack.request(
        "POST",
        "/send/batch",
        {
            "from": "news@example.com",
            "subject": "More news",
            "text": "Hello again",
            "recipients": [{"to": ["ann@example.com"]}, {"to": ["bob@example.com"]}],
        },
    )
    assert status == 200, answer
    assert answer["data"]["suppressed"] == 1
    ann_id, bob_id = answer["data"]["emailIds"]
    final = stack.wait_for([ann_id, bob_id])
    assert (final[ann_id]["status"], final[bob_id]["status"]) == ("suppressed", "sent")
    wait_for_mail(smtp_sink, 3)
    later = [r for r in smtp_sink.received if r.message["Subject"] == "More news"]
    assert [r.rcpt_tos for r in later] == [["bob@example.com"]]
    assert unsubscribe_url(stack, later[0], "unsubscribe@example.com") != bob_url


def test_a_single_send_carries_the_headers_only_when_asked(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_sink.port),
            "MAILROOM_UNSUBSCRIBE_SECRET": "test-unsubscribe-secret",
            "MAILROOM_PUBLIC_URL": "https://mail.example.com",
        }
    )
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker(concurrency=1)
    plain = {"from": "a@example.com", "subject": "Plain", "text": "x", "to": ["p@example.com"]}
    asked = {**plain, "subject": "Asked", "to": ["q@example.com"], "unsubscribe": True}
    stack.wait_for([stack.send(plain), stack.send(asked)])
    wait_for_mail(smtp_sink, 2)
    assert mail_to(smtp_sink, "p@example.com").message["List-Unsubscribe"] is None
    received = mail_to(smtp_sink, "q@example.com").message
    assert str(received["List-Unsubscribe"]).startswith("<https://mail.example.com/u/")
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
