"""Tracking for real: gunicorn → PostgreSQL → RabbitMQ → worker rewrites the HTML → SMTP
delivers; then the delivered message's pixel and link go through the API's public endpoints."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support.smtp_sink import Received, SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]

# The public name mail links use; the test reaches the same paths on the stack's API.
TRACKING_URL = "https://track.example.com"
TARGET = "https://shop.example.com/orders/1042?ref=mail&utm_source=x#items"
HTML = (
    "<html><body><p>Your order shipped.</p>"
    f'<p><a href="{TARGET.replace("&", "&amp;")}">See your order</a></p>'
    '<p><a href="mailto:help@example.com">Write to us</a> '
    '<a href="tel:+15551234">Call</a> <a href="#top">Top</a> '
    '<a href="https://example.com/unsubscribe?u=1">Unsubscribe</a></p>'
    "</body></html>"
)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def get(stack: Stack, url: str) -> tuple[int, dict[str, str], bytes]:
    """GET a tracking URL on the stack's API, without an API key and without following."""
    assert url.startswith(TRACKING_URL + "/"), url
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(stack.api_url + url[len(TRACKING_URL) :], timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def parts(received: Received) -> tuple[str, str]:
    html = received.message.get_body(("html",))
    text = received.message.get_body(("plain",))
    assert html is not None and text is not None
    return str(html.get_content()), str(text.get_content())


def hrefs(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'<a\s[^>]*href="([^"]*)"', html)]


def of_type(email: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in email["events"] if e["type"] == kind]


def test_tracked_links_and_pixel_record_events_and_untracked_mail_is_untouched(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_sink.port),
            "MAILROOM_TRACKING_URL": TRACKING_URL,
            "MAILROOM_TRACKING_SECRET": "s" * 40,
        }
    )
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()
    body = {"from": "shop@example.com", "to": "ann@example.com", "subject": "Shipped", "html": HTML}
    tracked = stack.send({**body, "tracking": {"opens": True, "clicks": True}})
    plain = stack.send(body)
    status, answer = stack.request(
        "POST",
        "/send/batch",
        {
            "from": "shop@example.com",
            "subject": "Shipped",
            "html": HTML,
            "recipients": [{"to": "bob@example.com"}, {"to": "cy@example.com"}],
            "tracking": {"clicks": True},
        },
    )
    assert status == 200, answer
    batch = answer["data"]["emailIds"]
    final = stack.wait_for([tracked, plain, *batch])
    assert {e["status"] for e in final.values()} == {"sent"}, final

    [message] = smtp_sink.by_header("X-Mailroom-Email-Id", tracked)
    html, text = parts(message)
    links = hrefs(html)
    clicks = [h for h in links if h.startswith(TRACKING_URL + "/t/c/")]
    assert len(clicks) == 1, links
    # mailto:, tel:, anchors and the unsubscribe link stay as written.
    assert "mailto:help@example.com" in links and "tel:+15551234" in links and "#top" in links
    assert "https://example.com/unsubscribe?u=1" in links
    assert TARGET not in links
    # The text part keeps the plain link.
    assert TARGET in text and "/t/c/" not in text
    [pixel] = re.findall(r'<img src="([^"]*/t/o/[^"]*\.gif)"', html)

    # The redirect leads to the exact target and records the click.
    status, headers, _ = get(stack, clicks[0])
    assert status == 302, status
    assert headers["Location"] == TARGET
    [click] = of_type(stack.email(tracked), "clicked")
    assert click["detail"] == {"url": TARGET}

    # A tampered token, or one for another target, is refused and records nothing.
    token = clicks[0].rsplit("/", 1)[1]
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for bad in (forged, "WyJ4IiwiaHR0cHM6Ly9ldmlsLmV4YW1wbGUiXQ.nope"):
        status, headers, _ = get(stack, f"{TRACKING_URL}/t/c/{bad}")
        assert status == 404 and "Location" not in headers, (status, headers)
    assert len(of_type(stack.email(tracked), "clicked")) == 1

    # The pixel is a GIF; two fetches within the minute are one open.
    for _ in range(2):
        status, headers, gif = get(stack, pixel)
        assert status == 200 and headers["Content-Type"] == "image/gif"
        assert gif.startswith(b"GIF89a")
    assert len(of_type(stack.email(tracked), "opened")) == 1
    status, _, _ = get(stack, pixel.replace("/t/o/", "/t/o/x"))
    assert status == 404

    # A batch's emails each get their own links (clicks only, as asked: no pixel).
    batch_links = []
    for email_id in batch:
        [received] = smtp_sink.by_header("X-Mailroom-Email-Id", email_id)
        html, _ = parts(received)
        assert "/t/o/" not in html
        [link] = [h for h in hrefs(html) if h.startswith(TRACKING_URL + "/t/c/")]
        batch_links.append(link)
    assert len(set(batch_links)) == 2
    status, headers, _ = get(stack, batch_links[1])
    assert status == 302 and headers["Location"] == TARGET
    assert of_type(stack.email(batch[1]), "clicked") and not of_type(
        stack.email(batch[0]), "clicked"
    )

    # An untracked email goes out as written: no redirect, no pixel.
    [untouched] = smtp_sink.by_header("X-Mailroom-Email-Id", plain)
    html, _ = parts(untouched)
    assert TARGET in hrefs(html) and "/t/c/" not in html and "/t/o/" not in html
    assert not of_type(final[plain], "opened") and not of_type(final[plain], "clicked")
