"""What workers do at the edges: a pinned provider removed, callbacks filtered, inactive or
given up, and a sweep whose publish fails.

Emails enter through the API (the Flask test client on a SQLite database); the worker side runs
in this process on the same database through its public entry points: the pipeline's step
functions, the callback task, and the `mailroom sweep` command.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from celery.exceptions import Retry
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailroom.config import get_settings
from models import CallbackDelivery, Email, WebhookEndpoint
from store import outbox
from tasks import callbacks, runtime
from tasks.pipeline import fetch_step, render_step, send_step
from tests.conftest import Keys
from tests.support.net import free_port
from tests.support.sendgrid_server import SendGridServer
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import REPO_ROOT

BODY: dict[str, Any] = {"from": "a@example.com", "to": "b@example.com", "subject": "s", "text": "t"}


class Worker:
    """The worker's settings in this process: the app's database, providers as configured."""

    def __init__(self, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
        monkeypatch.setenv("STORAGE_BACKEND", "local")
        monkeypatch.setenv("STORAGE_LOCAL_ROOT", str(app.config["STORAGE_LOCAL_ROOT"]))

    def configure(self, **env: str) -> None:
        """Set environment variables and rebuild the worker's runtime from them."""
        for name, value in env.items():
            self.monkeypatch.setenv(name, value)
        self.reset()

    def reset(self) -> None:
        """Drop the runtime (closing its connections) and the cached settings."""
        for provider in runtime.get().sender.providers:
            provider.close()  # an SMTP session stays open between sends
        runtime.get().engine.dispose()
        runtime.reset()
        get_settings.cache_clear()


@pytest.fixture
def worker(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Worker]:
    """The worker side, on the app's database."""
    worker = Worker(app, monkeypatch)
    # The test receivers listen on 127.0.0.1, which callbacks refuse unless told otherwise.
    worker.configure(EMAIL_PROVIDERS="outbox", MAILROOM_CALLBACKS_ALLOW_LOOPBACK="true")
    yield worker
    worker.reset()


def send(client: FlaskClient, keys: Keys) -> uuid.UUID:
    response = client.post("/send", json=BODY, headers=keys.header("send"))
    assert response.status_code == 200, response.get_json()
    return uuid.UUID(response.get_json()["data"]["emailId"])


def shown(client: FlaskClient, keys: Keys, email_id: uuid.UUID) -> dict[str, Any]:
    response = client.get(f"/emails/{email_id}", headers=keys.header("read"))
    assert response.status_code == 200
    data: dict[str, Any] = response.get_json()["data"]
    return data


# an ambiguous attempt's provider removed from EMAIL_PROVIDERS ------------------------------


@pytest.fixture
def sendgrid() -> Iterator[SendGridServer]:
    with SendGridServer(api_key="SG.unpinned") as server:
        yield server


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def ambiguous_on_sendgrid(
    client: FlaskClient, keys: Keys, worker: Worker, sendgrid: SendGridServer, sink: SmtpSink
) -> uuid.UUID:
    """An email whose first try timed out at SendGrid after sending: pinned to SendGrid."""
    worker.configure(
        EMAIL_PROVIDERS="sendgrid,smtp",
        SENDGRID_API_KEY=sendgrid.api_key,
        SENDGRID_HOST=sendgrid.url,
        SENDGRID_TIMEOUT="0.5",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(sink.port),
    )
    sendgrid.set_mode("hang", hang_seconds=5)
    email_id = send(client, keys)
    render_step(email_id)
    fetch_step(email_id)
    assert send_step(email_id) is not None  # a retry is due
    assert [e["type"] for e in shown(client, keys, email_id)["events"]][-1] == "ambiguous"
    return email_id


def test_a_pinned_provider_still_configured_is_the_only_one_tried(
    client: FlaskClient, keys: Keys, worker: Worker, sendgrid: SendGridServer, sink: SmtpSink
) -> None:
    email_id = ambiguous_on_sendgrid(client, keys, worker, sendgrid, sink)
    sendgrid.set_mode("accept")

    assert send_step(email_id) is None

    email = shown(client, keys, email_id)
    assert (email["status"], email["provider"]) == ("sent", "sendgrid")
    assert "unpinned" not in [e["type"] for e in email["events"]]
    assert sink.received == []


def test_a_pinned_provider_removed_from_the_list_is_unpinned(
    client: FlaskClient, keys: Keys, worker: Worker, sendgrid: SendGridServer, sink: SmtpSink
) -> None:
    email_id = ambiguous_on_sendgrid(client, keys, worker, sendgrid, sink)
    requests = sendgrid.requests
    worker.configure(EMAIL_PROVIDERS="smtp")  # the operator stops using SendGrid

    assert send_step(email_id) is None

    email = shown(client, keys, email_id)
    assert (email["status"], email["provider"]) == ("sent", "smtp")
    [unpinned] = [e for e in email["events"] if e["type"] == "unpinned"]
    assert unpinned["provider"] == "sendgrid"
    assert "second copy" in unpinned["detail"]
    types = [e["type"] for e in email["events"]]
    assert types.index("ambiguous") < types.index("unpinned") < types.index("sent")
    assert [(a["provider"], a["outcome"]) for a in email["attempts"]] == [
        ("sendgrid", "failed"),
        ("smtp", "accepted"),
    ]
    assert sendgrid.requests == requests  # not tried again
    assert [str(r.message["X-Mailroom-Email-Id"]) for r in sink.received] == [str(email_id)]


# status callbacks: event filters, inactive endpoints, giving up ----------------------------


class Receiver:
    """An HTTP endpoint that answers every POST with `status`, counting them."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.posts: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's method name
                receiver.posts.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def failing_receiver() -> Iterator[Receiver]:
    receiver = Receiver(500)
    yield receiver
    receiver.stop()


def register(client: FlaskClient, keys: Keys, url: str, events: list[str]) -> str:
    response = client.post(
        "/webhooks/endpoints", json={"url": url, "events": events}, headers=keys.header("admin")
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["data"]["endpointId"])


def deliveries(client: FlaskClient, keys: Keys, endpoint_id: str) -> list[dict[str, Any]]:
    response = client.get(
        f"/webhooks/endpoints/{endpoint_id}/deliveries", headers=keys.header("admin")
    )
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.get_json()["data"]["items"]
    return items


def status_change(email_id: uuid.UUID, status: str) -> None:
    """What a step does when an email's status changes: queue its callbacks, commit."""
    with runtime.transaction() as session:
        outbox.queue_status_changes(session, [email_id], status)


def test_callbacks_go_only_to_active_endpoints_that_want_the_status(
    client: FlaskClient, keys: Keys, worker: Worker, db_session: Session
) -> None:
    email_id = send(client, keys)
    wants_sent = register(client, keys, "http://hooks.test/sent", ["sent"])
    wants_all = register(client, keys, "http://hooks.test/all", [])
    wants_bounces = register(client, keys, "http://hooks.test/bounced", ["bounced", "failed"])
    inactive = register(client, keys, "http://hooks.test/inactive", [])
    db_session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == uuid.UUID(inactive))
        .values(active=False)
    )
    db_session.commit()
    outbox.forget_endpoints()

    status_change(email_id, "sent")
    status_change(email_id, "bounced")

    def events(endpoint: str) -> list[str]:
        return sorted(d["event"] for d in deliveries(client, keys, endpoint))

    assert events(wants_sent) == ["sent"]
    assert events(wants_all) == ["bounced", "sent"]
    assert events(wants_bounces) == ["bounced"]
    assert events(inactive) == []


def test_a_pending_callback_to_an_inactive_endpoint_is_dropped(
    client: FlaskClient,
    keys: Keys,
    worker: Worker,
    db_session: Session,
    failing_receiver: Receiver,
) -> None:
    email_id = send(client, keys)
    endpoint = register(client, keys, failing_receiver.url, [])
    status_change(email_id, "sent")
    [pending] = deliveries(client, keys, endpoint)
    db_session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == uuid.UUID(endpoint))
        .values(active=False)
    )
    db_session.commit()

    callbacks.deliver_callback(pending["deliveryId"])

    [dropped] = deliveries(client, keys, endpoint)
    assert (dropped["state"], dropped["lastError"], dropped["attempts"]) == (
        "failed",
        "endpoint removed",
        0,
    )
    assert failing_receiver.posts == []


def test_a_failing_callback_is_retried_for_a_day_then_given_up(
    client: FlaskClient,
    keys: Keys,
    worker: Worker,
    db_session: Session,
    failing_receiver: Receiver,
) -> None:
    email_id = send(client, keys)
    endpoint = register(client, keys, failing_receiver.url, ["sent"])
    status_change(email_id, "sent")
    [delivery] = deliveries(client, keys, endpoint)

    with pytest.raises(Retry):  # younger than a day: tried again later
        callbacks.deliver_callback(delivery["deliveryId"])
    [retrying] = deliveries(client, keys, endpoint)
    assert (retrying["state"], retrying["attempts"], retrying["lastStatusCode"]) == (
        "pending",
        1,
        500,
    )

    # A day has passed since the status change.
    row = db_session.get(CallbackDelivery, uuid.UUID(delivery["deliveryId"]))
    assert row is not None
    row.created_at -= callbacks.GIVE_UP_AFTER + timedelta(minutes=1)
    db_session.commit()

    callbacks.deliver_callback(delivery["deliveryId"])  # no retry raised: given up

    [given_up] = deliveries(client, keys, endpoint)
    assert (given_up["state"], given_up["attempts"], given_up["lastStatusCode"]) == (
        "failed",
        2,
        500,
    )
    callbacks.deliver_callback(delivery["deliveryId"])  # a late redelivery does nothing
    assert len(failing_receiver.posts) == 2


# the sweeper, when the broker is down -------------------------------------------------------


def sweep(app: Flask, tmp_path: Path, broker_url: str | None) -> subprocess.CompletedProcess[str]:
    """`mailroom sweep` on the app's database, with this broker (None: the filesystem one)."""
    env = {
        **os.environ,
        "MAILROOM_ENV_FILE": "/dev/null",
        "MAILROOM_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": app.config["DATABASE_URL"],
        "MAILROOM_PUBLISH_TIMEOUT_SECONDS": "1",
    }
    env.pop("BROKER_URL", None)
    if broker_url:
        env["BROKER_URL"] = broker_url
    return subprocess.run(
        [str(Path(sys.executable).parent / "mailroom"), "sweep"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def stale(client: FlaskClient, keys: Keys, db_session: Session, count: int) -> list[uuid.UUID]:
    """Accepted emails whose publish is an hour old and never ran: the sweeper's work."""
    ids = [send(client, keys) for _ in range(count)]
    for row in db_session.scalars(select(Email).where(Email.id.in_(ids))):
        assert row.enqueued_at is not None
        row.enqueued_at -= timedelta(hours=1)
    db_session.commit()
    return ids


def test_a_sweep_publishes_a_stale_email_once_per_spacing(
    app: Flask, client: FlaskClient, keys: Keys, db_session: Session, tmp_path: Path
) -> None:
    stale(client, keys, db_session, 3)

    assert sweep(app, tmp_path, None).stdout.strip() == "re-published 3 emails"
    # Published again just now: the next sweep leaves them alone.
    assert sweep(app, tmp_path, None).stdout.strip() == "re-published 0 emails"


def test_a_sweep_whose_publish_fails_leaves_the_emails_due(
    app: Flask, client: FlaskClient, keys: Keys, db_session: Session, tmp_path: Path
) -> None:
    ids = stale(client, keys, db_session, 3)

    failed = sweep(app, tmp_path, f"amqp://guest:guest@127.0.0.1:{free_port()}//")

    assert failed.returncode != 0 and "PublishError" in failed.stderr, failed.stdout
    # The broker never had them: the next sweep publishes them at once, spacing or not.
    assert sweep(app, tmp_path, None).stdout.strip() == "re-published 3 emails"
    for email_id in ids:
        events = [e["type"] for e in shown(client, keys, email_id)["events"]]
        assert events.count("requeued") == 2
