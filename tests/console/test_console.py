"""The console through the test client: sign-in, sessions, CSRF, every page, every action."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from unittest import mock

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from console import auth
from models import (
    ApiKey,
    CallbackDelivery,
    Email,
    EmailEvent,
    EmailStatus,
    ProviderState,
    SendAttempt,
    Suppression,
    WebhookEndpoint,
    utcnow,
)
from tests.conftest import Keys
from tests.support.console_client import Console, csrf_of

PAGES = (
    "/console/",
    "/console/emails",
    "/console/suppressions",
    "/console/templates",
    "/console/webhooks",
)


def status_of(session: Session, email_id: str) -> EmailStatus:
    """The email's status as stored now."""
    session.expire_all()
    email = session.get(Email, uuid.UUID(email_id))
    assert email is not None
    return email.status


def test_pages_need_a_session(app: Flask) -> None:
    client = app.test_client()
    for page in PAGES:
        answer = client.get(page)
        assert answer.status_code == 302
        assert answer.headers["Location"].startswith("/console/sign-in?next=")


def test_sign_in_sets_a_strict_httponly_cookie(app: Flask, keys: Keys) -> None:
    console = Console(app, keys, "read")
    cookie = console.client.get_cookie(auth.COOKIE, path="/console")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    assert not cookie.secure  # http here; https sets Secure (next test)
    assert console.client.get("/console/emails").status_code == 200


def test_the_cookie_is_secure_over_https(app: Flask, keys: Keys) -> None:
    client = app.test_client()
    plaintext = keys.header("read")["Authorization"].removeprefix("Bearer ")
    form = client.get("/console/sign-in", base_url="https://localhost")
    answer = client.post(
        "/console/sign-in",
        data={"api_key": plaintext, "csrf_token": csrf_of(form.text)},
        base_url="https://localhost",
    )
    assert answer.status_code == 303
    assert "Secure" in answer.headers["Set-Cookie"]


def test_a_wrong_key_is_refused(app: Flask, keys: Keys) -> None:
    client = app.test_client()
    form = client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in", data={"api_key": "mr_nope_nope", "csrf_token": csrf_of(form.text)}
    )
    assert answer.status_code == 401
    assert "Unknown or revoked API key" in answer.text
    assert client.get("/console/emails").status_code == 302


def test_a_key_without_read_cannot_sign_in(app: Flask, keys: Keys) -> None:
    client = app.test_client()
    plaintext = keys.header("send")["Authorization"].removeprefix("Bearer ")
    form = client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in", data={"api_key": plaintext, "csrf_token": csrf_of(form.text)}
    )
    assert answer.status_code == 401


def test_sign_in_without_its_csrf_token_is_refused(app: Flask, keys: Keys) -> None:
    client = app.test_client()
    plaintext = keys.header("read")["Authorization"].removeprefix("Bearer ")
    client.get("/console/sign-in")
    answer = client.post("/console/sign-in", data={"api_key": plaintext, "csrf_token": "x"})
    assert answer.status_code == 400 and "CSRF token is missing or invalid" in answer.text


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    console: Console, db_session: Session
) -> None:
    email_id = console.send(sendAt=(utcnow() + timedelta(days=1)).isoformat())
    for data in ({}, {"csrf_token": "forged"}):
        answer = console.client.post(f"/console/emails/{email_id}/cancel", data=data)
        assert answer.status_code == 400 and "CSRF token is missing or invalid" in answer.text
    assert status_of(db_session, email_id) == EmailStatus.SCHEDULED


def test_another_sessions_token_is_refused(app: Flask, keys: Keys) -> None:
    first, second = Console(app, keys, "admin"), Console(app, keys, "admin")
    token = csrf_of(first.client.get("/console/suppressions").text)
    answer = second.client.post(
        "/console/suppressions", data={"csrf_token": token, "address": "x@example.com"}
    )
    assert answer.status_code == 400


def test_sign_out_ends_the_session(console: Console) -> None:
    answer = console.post("/console/sign-out", "/console/emails")
    assert answer.status_code == 303
    assert console.client.get("/console/emails").status_code == 302


def test_a_revoked_key_ends_its_sessions(console: Console, db_session: Session) -> None:
    assert console.client.get("/console/emails").status_code == 200
    prefix = console.key.split("_")[1]
    db_session.execute(update(ApiKey).where(ApiKey.prefix == prefix).values(revoked_at=utcnow()))
    db_session.commit()
    assert console.client.get("/console/emails").status_code == 302


def test_a_session_expires(console: Console) -> None:
    later = datetime.now(UTC).timestamp() + auth.SESSION_SECONDS + 60
    with mock.patch("itsdangerous.timed.time.time", return_value=later):
        answer = console.client.get("/console/emails")
    assert answer.status_code == 302
    assert "session%20expired" in answer.headers["Location"]


def test_every_page_renders(console: Console) -> None:
    email_id = console.send(html="<p>Hello</p>", text="Hello", tags=["reset"])
    for page in (*PAGES, f"/console/emails/{email_id}"):
        answer = console.client.get(page)
        assert answer.status_code == 200, (page, answer.text)
        assert "<main" in answer.text


def test_the_list_filters_and_counts(console: Console) -> None:
    first = console.send(to="alice@example.com", tags=["reset"])
    second = console.send(to="bob@example.com")
    page = console.client.get("/console/emails?to=ALICE@example.com").text
    assert first in page and second not in page
    assert console.client.get("/console/emails?tag=reset").text.count("/console/emails/") == 1
    both = console.client.get("/console/emails").text
    assert first in both and second in both and "queued</a>: 2" in both
    assert console.client.get("/console/emails?status=nope").status_code == 400
    assert console.client.get("/console/emails?after=yesterday").status_code == 400
    assert console.client.get("/console/emails?cursor=%%%").status_code == 400


def test_test_and_live_emails_are_never_listed_together(
    console: Console, db_session: Session
) -> None:
    live = console.send(to="alice@example.com")
    sandboxed = console.send(to="bob@example.com")
    db_session.execute(update(Email).where(Email.id == uuid.UUID(sandboxed)).values(is_test=True))
    db_session.commit()
    # A live key's console shows live emails unless asked for the test ones.
    default = console.client.get("/console/emails").text
    assert live in default and sandboxed not in default and "queued</a>: 1" in default
    tests = console.client.get("/console/emails?mode=test").text
    assert sandboxed in tests and live not in tests
    assert console.client.get("/console/emails?mode=both").status_code == 400
    # The overview's figures are the live ones too.
    assert "queued</a>: 1<" in console.client.get("/console/").text


def test_the_list_pages_by_cursor(console: Console, db_session: Session) -> None:
    ids = [console.send(subject=f"n{i}") for i in range(3)]
    with mock.patch("console.email_query.PAGE_SIZE", 2):
        page = console.client.get("/console/emails").text
        assert ids[2] in page and ids[1] in page and ids[0] not in page
        cursor = page.split("cursor=")[1].split("&")[0].split('"')[0]
        older = console.client.get(f"/console/emails?cursor={cursor}").text
    assert ids[0] in older and ids[2] not in older


def test_the_preview_may_not_run_script(console: Console) -> None:
    email_id = console.send(html="<p>Hi</p><script>alert(1)</script>")
    page = console.client.get(f"/console/emails/{email_id}").text
    assert 'sandbox=""' in page
    preview = console.client.get(f"/console/emails/{email_id}/preview")
    csp = preview.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp


def test_cancel_a_scheduled_email(console: Console, db_session: Session) -> None:
    email_id = console.send(sendAt=(utcnow() + timedelta(days=1)).isoformat())
    page = f"/console/emails/{email_id}"
    answer = console.post(f"{page}/cancel", page)
    assert answer.status_code == 303
    assert status_of(db_session, email_id) == EmailStatus.FAILED
    assert "Email cancelled" in console.client.get(answer.headers["Location"]).text
    again = console.post(f"{page}/cancel", page)
    assert again.status_code == 409


def test_actions_need_their_scope(app: Flask, keys: Keys, db_session: Session) -> None:
    reader = Console(app, keys, "read", "send")
    email_id = reader.send(sendAt=(utcnow() + timedelta(days=1)).isoformat())
    page = f"/console/emails/{email_id}"
    answer = reader.post(f"{page}/suppress", page, address="alice@example.com")
    assert answer.status_code == 403
    assert db_session.get(Suppression, "alice@example.com") is None
    only_read = Console(app, keys, "read")
    assert only_read.post(f"{page}/cancel", page).status_code == 403
    assert only_read.client.get("/console/suppressions").status_code == 403


def test_resend_makes_a_linked_copy(console: Console, db_session: Session) -> None:
    email_id = console.send(html="<p>Once more</p>", tags=["receipt"])
    page = f"/console/emails/{email_id}"
    answer = console.post(f"{page}/resend", page)
    assert answer.status_code == 303
    copies = db_session.scalars(select(Email).where(Email.id != uuid.UUID(email_id))).all()
    assert len(copies) == 1 and copies[0].html == "<p>Once more</p>"
    assert copies[0].tags == ["receipt"]
    events = db_session.scalars(select(EmailEvent).where(EmailEvent.type == "resent")).all()
    assert {(str(e.email_id), next(iter(e.detail or {}))) for e in events} == {
        (email_id, "resentAs"),
        (str(copies[0].id), "resentFrom"),
    }


def test_a_resent_copy_keeps_its_originals_mode(console: Console, db_session: Session) -> None:
    email_id = console.send(html="<p>Sandboxed</p>")
    db_session.execute(update(Email).where(Email.id == uuid.UUID(email_id)).values(is_test=True))
    db_session.commit()
    page = f"/console/emails/{email_id}"
    # The operator's key is live; the copy of a test email must not reach a real provider.
    assert console.post(f"{page}/resend", page).status_code == 303
    copy = db_session.scalars(select(Email).where(Email.id != uuid.UUID(email_id))).one()
    assert copy.is_test is True


def test_suppress_a_recipient_then_the_next_send_is_suppressed(
    console: Console, db_session: Session
) -> None:
    email_id = console.send(to="Carol <carol@example.com>")
    page = f"/console/emails/{email_id}"
    refused = console.post(f"{page}/suppress", page, address="mallory@example.com")
    assert refused.status_code == 400
    answer = console.post(f"{page}/suppress", page, address="Carol <carol@example.com>")
    assert answer.status_code == 303
    entry = db_session.get(Suppression, "carol@example.com")
    assert entry is not None and entry.source == "console"
    again = console.send(to="carol@example.com")
    db_session.expire_all()
    assert status_of(db_session, again) == EmailStatus.SUPPRESSED


def test_suppressions_page_adds_searches_and_removes(console: Console) -> None:
    added = console.post("/console/suppressions", "/console/suppressions", address="d@example.com")
    assert added.status_code == 303
    assert "d@example.com" in console.client.get("/console/suppressions?q=d@").text
    assert "d@example.com" not in console.client.get("/console/suppressions?q=zz").text
    bad = console.post("/console/suppressions", "/console/suppressions", address="not an address")
    assert bad.status_code == 400
    removed = console.post(
        "/console/suppressions/remove", "/console/suppressions", address="d@example.com"
    )
    assert removed.status_code == 303
    assert (
        "d@example.com may be sent to again" in console.client.get(removed.headers["Location"]).text
    )


def test_sign_in_redirects_only_within_the_console(app: Flask, keys: Keys) -> None:
    plaintext = keys.header("read")["Authorization"].removeprefix("Bearer ")
    for wanted, expected in (
        ("/console/emails", "/console/emails"),
        ("//evil.example/", "/console/"),
    ):
        client = app.test_client()
        form = client.get("/console/sign-in")
        answer = client.post(
            "/console/sign-in",
            data={"api_key": plaintext, "csrf_token": csrf_of(form.text), "next": wanted},
        )
        assert answer.headers["Location"] == expected


WELCOME = {
    "name": "welcome",
    "subject": "Welcome {{ CLIENT_NAME }}",
    "html": "<p>Hello {{ CLIENT_NAME }}</p><script>alert(1)</script>",
    "variables": [{"name": "CLIENT_NAME", "type": "text", "required": True}],
}


def test_a_template_previews_with_variables_and_sends_a_test(
    console: Console, db_session: Session
) -> None:
    created = console.client.post("/templates", json=WELCOME, headers=console.bearer)
    assert created.status_code in (200, 201), created.text
    template_id = created.get_json()["data"]["templateId"]
    page = f"/console/templates/{template_id}"
    assert "CLIENT_NAME" in console.client.get(page).text  # the form, and the missing value
    filled = console.client.get(f"{page}?var.CLIENT_NAME=Ada")
    assert "Welcome Ada" in filled.text and 'sandbox=""' in filled.text
    preview = console.client.get(f"{page}/preview?var.CLIENT_NAME=Ada")
    assert "Hello Ada" in preview.text
    assert "default-src 'none'" in preview.headers["Content-Security-Policy"]
    answer = console.post(
        f"{page}/test",
        filled.request.url,
        to="me@example.com",
        **{"from": "ops@example.com", "var.CLIENT_NAME": "Ada"},
    )
    assert answer.status_code == 303, answer.text
    sent = db_session.scalars(select(Email)).one()
    assert sent.subject == "Welcome Ada" and sent.tags == ["console-test"]
    assert sent.template_id == uuid.UUID(template_id)


def test_a_webhook_delivery_is_redelivered(console: Console, db_session: Session) -> None:
    endpoint = WebhookEndpoint(url="http://127.0.0.1:9/hook", events=["email.sent"], secret="s")
    db_session.add(endpoint)
    db_session.flush()
    delivery = CallbackDelivery(
        endpoint_id=endpoint.id,
        email_id=uuid.uuid4(),
        event="email.sent",
        payload={},
        state="failed",
        attempts=3,
        next_attempt_at=utcnow(),
    )
    db_session.add(delivery)
    db_session.commit()
    page = console.client.get("/console/webhooks").text
    assert "http://127.0.0.1:9/hook" in page and "failed" in page
    answer = console.post(
        f"/console/webhooks/deliveries/{delivery.id}/redeliver", "/console/webhooks"
    )
    assert answer.status_code == 303
    db_session.expire_all()
    assert db_session.get(CallbackDelivery, delivery.id).state == "pending"  # type: ignore[union-attr]
    missing = console.post(
        f"/console/webhooks/deliveries/{uuid.uuid4()}/redeliver", "/console/webhooks"
    )
    assert missing.status_code == 404


def test_the_overview_shows_volume_providers_and_failures(
    console: Console, db_session: Session
) -> None:
    email_id = console.send()
    db_session.add(
        ProviderState(
            name="ses", failures=5, opened_until=utcnow() + timedelta(minutes=1), last_error="x"
        )
    )
    db_session.add(
        SendAttempt(
            email_id=uuid.UUID(email_id), provider="ses", outcome="failed", error="503 busy"
        )
    )
    db_session.commit()
    page = console.client.get("/console/").text
    assert page.count("<svg") == 4 and "queued: 1" in page
    assert "open until" in page and "outbox" in page
    assert "503 busy — 1" in page


def test_a_tags_counts_are_among_its_newest_emails(console: Console) -> None:
    for _ in range(3):
        console.send(tags=["reset"])
    console.send(tags=["other"])
    page = console.client.get("/console/emails?tag=reset").text
    assert "queued</a>: 3" in page and "Counts among the newest" not in page
    with mock.patch("console.email_query.TAG_WINDOW", 2):
        page = console.client.get("/console/emails?tag=reset").text
    assert "queued</a>: 2" in page and "Counts among the newest 2 matching emails" in page


def test_the_timeline_calls_out_failover_hops_and_ambiguous_attempts(
    console: Console, db_session: Session
) -> None:
    email_id = uuid.UUID(console.send())
    start = utcnow()
    db_session.add_all(
        [
            SendAttempt(
                email_id=email_id,
                provider="ses",
                outcome="failed",
                error_kind="transient",
                error="503 throttled",
                at=start,
                duration_ms=120.0,
            ),
            SendAttempt(
                email_id=email_id,
                provider="sendgrid",
                outcome="failed",
                error_kind="ambiguous",
                error="read timeout",
                at=start + timedelta(seconds=1),
                duration_ms=30000.0,
            ),
            SendAttempt(
                email_id=email_id,
                provider="sendgrid",
                outcome="accepted",
                at=start + timedelta(seconds=2),
                duration_ms=80.0,
            ),
        ]
    )
    db_session.commit()
    page = console.client.get(f"/console/emails/{email_id}").text
    rows = page.split('<table class="timeline">')[1].split("</table>")[0].split("<tr")
    ses, ambiguous, accepted = (r for r in rows if "attempt via" in r)
    assert "503 throttled" in ses and "120 ms" in ses and "failover hop" not in ses
    assert "ambiguous: may have been sent" in ambiguous and "failover hop" in ambiguous
    assert "accepted" in accepted and "failover hop" not in accepted  # same provider again
    assert page.count("failover hop") == 1


def test_the_list_finds_a_batch_send_by_its_batch_id(console: Console) -> None:
    answer = console.client.post(
        "/send/batch",
        json={
            "from": "ops@example.com",
            "subject": "Hi",
            "text": "Hello",
            "recipients": [{"to": "a@example.com"}, {"to": "b@example.com"}],
        },
        headers=console.bearer,
    )
    assert answer.status_code == 200, answer.text
    batch_id = answer.get_json()["data"]["batchId"]
    alone = console.send(to="c@example.com")
    page = console.client.get(f"/console/emails?batch={batch_id}").text
    assert "a@example.com" in page and "b@example.com" in page and alone not in page
    assert "queued</a>: 2" in page


def test_a_signed_in_operator_may_sign_in_with_another_key(app: Flask, keys: Keys) -> None:
    console = Console(app, keys, "read")
    other = keys.header("admin")["Authorization"].removeprefix("Bearer ")
    form = console.client.get("/console/sign-in")
    answer = console.client.post(
        "/console/sign-in", data={"api_key": other, "csrf_token": csrf_of(form.text)}
    )
    assert answer.status_code == 303
    assert console.client.get("/console/suppressions").status_code == 200  # admin now
