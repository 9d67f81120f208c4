"""The `mailroom` command as operators run it: a real process on a configured database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api import create_app
from api.keys import create_key
from mailroom.cli_providers import CheckFailed, ses_verdict
from models import Brand, Email, EmailEvent, EmailStatus, SendAttempt, Template
from models.db import make_engine, make_session_factory
from tests.support.moto_server import MotoServer
from tests.support.net import free_port
from tests.support.smtp_sink import SmtpSink

MAILROOM = str(Path(sys.executable).parent / "mailroom")


def run(
    env: dict[str, str], *args: str, ok: bool = True, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [MAILROOM, *args],
        env={**os.environ, "MAILROOM_ENV_FILE": "/dev/null", **env, **(extra or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "MAILROOM_VAR_DIR": str(tmp_path / "var"),
    }


def app_on(env: dict[str, str]) -> Flask:
    return create_app({"TESTING": True, "DATABASE_URL": env["DATABASE_URL"]})


def test_keys_create_prints_the_key_alone_on_the_last_line(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    out = run(env, "keys", "create", "--name", "billing", "--scopes", "send,read").stdout
    key = out.strip().splitlines()[-1]
    assert key.startswith("mr_") and " " not in key

    client = app_on(env).test_client()
    auth = {"Authorization": f"Bearer {key}"}
    assert client.get("/emails", headers=auth).status_code == 200
    assert client.get("/emails", headers={"Authorization": f"Bearer {key}x"}).status_code == 401

    listed = run(env, "keys", "list").stdout
    prefix = key.split("_")[1]
    assert prefix in listed and "billing" in listed and "send,read" in listed
    assert key.split("_", 2)[2] not in listed  # the secret is never shown again

    run(env, "keys", "revoke", prefix)
    assert client.get("/emails", headers=auth).status_code == 401
    assert "revoked" in run(env, "keys", "list").stdout


def test_keys_are_stored_hashed(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    key = run(env, "keys", "create", "--name", "x", "--scopes", "admin").stdout.split()[-1]
    raw = Path(env["DATABASE_URL"].removeprefix("sqlite:///")).read_bytes()
    assert key.split("_", 2)[2].encode() not in raw


def test_bad_scopes_and_unknown_prefix_fail_clearly(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    bad = run(env, "keys", "create", "--name", "x", "--scopes", "send,root", ok=False)
    assert bad.returncode != 0 and "unknown scopes root" in bad.stderr
    missing = run(env, "keys", "revoke", "nope", ok=False)
    assert missing.returncode == 1 and "no key with prefix nope" in missing.stderr


# -- send and status ------------------------------------------------------------------------------


def sessions_on(env: dict[str, str]) -> sessionmaker[Session]:
    return make_session_factory(make_engine(env["DATABASE_URL"]))


def auth_on(env: dict[str, str], *scopes: str) -> dict[str, str]:
    """An Authorization header with a new key, made in-process (the CLI's is tested above)."""
    with sessions_on(env)() as session:
        _, plaintext = create_key(session, "test", scopes)
        session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


def test_send_stores_the_email_as_the_api_would_and_publishes_it(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    out = run(
        env,
        *("send", "--to", "ann@example.com, Bob <bob@example.org>", "--to", "cy@example.net"),
        *("--subject", "Hello {{ 'world' }}", "--text", "plain", "--html", "<p>rich</p>"),
        extra={"DEFAULT_FROM": "Ops <ops@example.com>"},
    ).stdout
    email_id = uuid.UUID(out.strip().splitlines()[-1])

    with sessions_on(env)() as session:
        email = session.get(Email, email_id)
        assert email is not None
        assert email.status == EmailStatus.QUEUED
        assert email.from_addr == "Ops <ops@example.com>"
        assert email.to_addrs == ["ann@example.com", "Bob <bob@example.org>", "cy@example.net"]
        assert email.subject == "Hello world"
        assert (email.html, email.text) == ("<p>rich</p>", "plain")
        assert email.message_id == f"<{email_id}@example.com>"
        assert {r.address for r in email.recipients} == {
            "ann@example.com",
            "bob@example.org",
            "cy@example.net",
        }
        assert [e.type for e in email.events] == ["accepted"]
    queue = Path(env["MAILROOM_VAR_DIR"]) / "broker" / "queue"
    messages = [p.read_text() for p in queue.iterdir()]
    assert len(messages) == 1 and str(email_id) in messages[0]


def test_send_refuses_bad_input_with_the_contract_text(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    sending = ("send", "--subject", "s", "--text", "t", "--from", "ops@example.com")
    bad = run(env, *sending, "--to", "ann@example.com, not-an-address", ok=False)
    assert bad.returncode == 2
    assert "`not-an-address` is not a valid email address" in bad.stderr
    bad_from = run(env, *sending[:-1], "bad@", "--to", "ann@example.com", ok=False)
    assert bad_from.returncode == 2 and "`bad@` is not a valid email address" in bad_from.stderr
    no_sender = run(
        env, "send", "--to", "ann@example.com", "--subject", "s", "--text", "t", ok=False
    )
    assert no_sender.returncode == 2
    assert "`from` is required (no default sender is configured)" in no_sender.stderr
    with sessions_on(env)() as session:
        assert session.scalars(select(Email)).first() is None


def test_send_keeps_the_email_when_the_broker_is_down(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    done = run(
        env,
        *("send", "--to", "ann@example.com", "--subject", "s", "--text", "t"),
        *("--from", "ops@example.com"),
        extra={"BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}//"},
    )
    email_id = uuid.UUID(done.stdout.strip().splitlines()[-1])
    assert f"email {email_id} is stored; the sweeper will send it" in done.stderr
    with sessions_on(env)() as session:
        email = session.get(Email, email_id)
        assert email is not None and email.status == EmailStatus.QUEUED
        assert email.enqueued_at is None  # due for the sweeper's next run


def test_status_shows_what_the_api_shows(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    sent = run(
        env,
        *("send", "--to", "ann@example.com", "--subject", "Status", "--text", "t"),
        *("--from", "ops@example.com"),
    )
    email_id = uuid.UUID(sent.stdout.split()[-1])
    with sessions_on(env)() as session:
        email = session.get(Email, email_id)
        assert email is not None
        email.attempts.append(SendAttempt(provider="smtp", outcome="failed", error="451 later"))
        email.attempts.append(SendAttempt(provider="outbox", outcome="accepted"))
        email.events.append(
            EmailEvent(type="sent", provider="outbox", recipient="ann@example.com", detail={"n": 1})
        )
        email.status, email.provider, email.provider_message_id = EmailStatus.SENT, "outbox", "m1"
        session.commit()

    text = run(env, "status", str(email_id)).stdout
    assert re.search(r"^status:\s+sent$", text, re.M)
    assert re.search(r"^provider:\s+outbox$", text, re.M)
    assert re.search(r"^provider message id:\s+m1$", text, re.M)
    assert re.search(r"^\s+\S+\s+smtp\s+failed\s+451 later$", text, re.M)
    assert re.search(r"^\s+\S+\s+outbox\s+accepted\s+-$", text, re.M)
    assert re.search(r'^\s+\S+\s+sent\s+ann@example.com\s+outbox\s+\{"n": 1\}$', text, re.M)

    as_json = json.loads(run(env, "status", "--json", str(email_id)).stdout)
    answer = app_on(env).test_client().get(f"/emails/{email_id}", headers=auth_on(env, "read"))
    assert answer.status_code == 200
    assert as_json == answer.get_json()["data"]
    assert [a["outcome"] for a in as_json["attempts"]] == ["failed", "accepted"]


def test_status_of_an_unknown_email_fails(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    unknown = uuid.uuid4()
    done = run(env, "status", str(unknown), ok=False)
    assert done.returncode == 1 and f"Email `{unknown}` not found" in done.stderr


# -- templates ------------------------------------------------------------------------------------


def fresh_env(tmp_path: Path, name: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / f'{name}.sqlite3'}",
        "MAILROOM_VAR_DIR": str(tmp_path / f"var-{name}"),
        "STORAGE_LOCAL_ROOT": str(tmp_path / "storage"),
    }
    run(env, "db", "upgrade")
    return env


def test_templates_round_trip_through_files(tmp_path: Path) -> None:
    source, target = fresh_env(tmp_path, "source"), fresh_env(tmp_path, "target")
    (tmp_path / "storage" / "docs").mkdir(parents=True)
    (tmp_path / "storage" / "docs" / "terms.pdf").write_bytes(b"%PDF-1.4 terms")
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": source["DATABASE_URL"],
            "STORAGE_LOCAL_ROOT": tmp_path / "storage",
        }
    )
    auth = auth_on(source, "templates")
    client = app.test_client()
    brand = client.post("/brands", json={"name": "Acme", "header": "<b>Acme</b>"}, headers=auth)
    brand_id = brand.get_json()["data"]["brandId"]
    welcome = {
        "name": "Welcome / new client",
        "lang": "en",
        "subject": "Welcome {{ CLIENT_NAME }}",
        "html": "<p>Hi {{ CLIENT_NAME }}</p>{{ NOTE }}",
        "text": "Hi {{ CLIENT_NAME }}",
        "variables": [
            {"name": "CLIENT_NAME", "type": "text", "required": True},
            {"name": "NOTE", "type": "html", "default": "<i>note</i>"},
        ],
        "attachments": ["docs/terms.pdf"],
        "brandId": brand_id,
        "brandStyles": True,
        "translations": {"es": {"subject": "Hola {{ CLIENT_NAME }}", "html": "<p>Hola</p>"}},
    }
    plain = {"name": "plain", "subject": "Plain", "html": "<p>plain</p>"}
    ids = [
        client.post("/templates", json=body, headers=auth).get_json()["data"]["templateId"]
        for body in (welcome, plain)
    ]

    out = tmp_path / "exported"
    run(source, "templates", "export", "--out", str(out))
    files = sorted(p.name for p in out.iterdir())
    assert files == ["Welcome-new-client.json", "plain.json"]
    document = json.loads((out / "Welcome-new-client.json").read_text())
    assert document["templateId"] == ids[0]
    assert "version" not in document and "createdAt" not in document

    with sessions_on(target)() as session:  # the brand a template refers to must exist
        session.add(Brand(id=uuid.UUID(brand_id), name="Acme"))
        session.commit()
    done = run(target, "templates", "import", str(out))
    imported = done.stdout.splitlines()
    assert [line.split()[0] for line in imported] == ["created", "created"]
    assert "checking templates" in done.stderr  # progress, on stderr only

    def shown(env: dict[str, str], template_id: str) -> dict[str, Any]:
        client = app_on(env).test_client()
        answer = client.get(f"/templates/{template_id}", headers=auth_on(env, "templates"))
        assert answer.status_code == 200
        data: dict[str, Any] = answer.get_json()["data"]
        return {k: v for k, v in data.items() if k not in {"createdAt", "updatedAt"}}

    for template_id in ids:
        assert shown(target, template_id) == shown(source, template_id)

    again = run(target, "templates", "import", str(out)).stdout.splitlines()
    assert [line.split()[0] for line in again] == ["unchanged", "unchanged"]

    document["subject"] = "Welcome aboard, {{ CLIENT_NAME }}"
    (out / "Welcome-new-client.json").write_text(json.dumps(document))
    changed = run(target, "templates", "import", str(out / "Welcome-new-client.json")).stdout
    assert changed.startswith("updated Welcome / new client") and "version 2" in changed
    after = shown(target, ids[0])
    assert after["version"] == 2 and after["subject"] == "Welcome aboard, {{ CLIENT_NAME }}"


def test_templates_import_refuses_an_invalid_file_and_imports_nothing(env: dict[str, str]) -> None:
    run(env, "db", "upgrade")
    folder = Path(env["MAILROOM_VAR_DIR"]).parent / "templates"
    folder.mkdir()
    (folder / "a-good.json").write_text(json.dumps({"name": "good", "subject": "s", "html": "h"}))
    (folder / "b-bad.json").write_text(
        json.dumps(
            {
                "name": "bad",
                "subject": "s",
                "html": "<p>line one</p>\n<p>{{ UNDECLARED }}</p>",
                "variables": [{"name": "DECLARED"}],
            }
        )
    )
    done = run(env, "templates", "import", str(folder), ok=False)
    assert done.returncode == 1
    assert "b-bad.json: Variable `UNDECLARED` is used in html at line 2 but not declared" in (
        done.stderr
    )
    assert "nothing imported" in done.stderr and done.stdout == ""
    with sessions_on(env)() as session:
        assert session.scalars(select(Template)).first() is None

    (folder / "b-bad.json").write_text(
        json.dumps({"name": "x", "subject": "s", "html": "h", "y": 1})
    )
    unknown_field = run(env, "templates", "import", str(folder / "b-bad.json"), ok=False)
    assert unknown_field.returncode == 1 and "`y`: Unknown field." in unknown_field.stderr


# -- providers check ------------------------------------------------------------------------------


def test_providers_check_smtp_and_outbox(env: dict[str, str], tmp_path: Path) -> None:
    sink = SmtpSink().start()
    try:
        good = run(
            env,
            "providers",
            "check",
            extra={
                "EMAIL_PROVIDERS": "smtp,outbox",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(sink.port),
                "OUTBOX_DIR": str(tmp_path / "new" / "outbox"),
            },
        )
    finally:
        sink.stop()
    assert good.stdout.splitlines()[0].startswith("smtp: ok")
    assert good.stdout.splitlines()[1].startswith("outbox: ok")
    assert (tmp_path / "new" / "outbox").is_dir()
    assert sink.received == []  # nothing was sent

    (tmp_path / "a-file").write_text("")
    bad = run(
        env,
        *("providers", "check", "--timeout", "2"),
        extra={
            "EMAIL_PROVIDERS": "smtp,outbox",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(free_port()),
            "OUTBOX_DIR": str(tmp_path / "a-file" / "outbox"),
        },
        ok=False,
    )
    assert bad.returncode == 1
    smtp_line, outbox_line = bad.stdout.splitlines()
    assert smtp_line.startswith("smtp: FAILED: cannot connect to 127.0.0.1:")
    assert outbox_line.startswith("outbox: FAILED: outbox folder") and "not writable" in outbox_line


def test_providers_check_ses_against_moto(env: dict[str, str]) -> None:
    with MotoServer() as moto:
        done = run(
            env,
            "providers",
            "check",
            extra={
                "EMAIL_PROVIDERS": "ses",
                "SES_REGION": "us-east-1",
                "SES_ENDPOINT_URL": moto.url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
            },
        )
    assert done.stdout.startswith("ses: ok (")
    down = run(
        env,
        *("providers", "check", "--timeout", "2"),
        extra={
            "EMAIL_PROVIDERS": "ses",
            "SES_REGION": "us-east-1",
            "SES_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
        ok=False,
    )
    assert down.returncode == 1 and down.stdout.startswith("ses: FAILED: ")


class _Scopes(BaseHTTPRequestHandler):
    """SendGrid's `GET /v3/scopes`: the key `good` holds mail.send, `readonly` does not."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's method name
        scopes = {"Bearer good": ["mail.send", "user.profile.read"], "Bearer readonly": ["stats"]}
        held = scopes.get(self.headers.get("Authorization", ""))
        status, body = (200, {"scopes": held}) if held is not None else (401, {"errors": []})
        if self.path != "/v3/scopes":
            status, body = 404, {}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def test_providers_check_sendgrid_reads_the_keys_scopes(env: dict[str, str]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scopes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host = f"http://127.0.0.1:{server.server_address[1]}"
        outcomes = {
            key: run(
                env,
                "providers",
                "check",
                extra={
                    "EMAIL_PROVIDERS": "sendgrid",
                    "SENDGRID_HOST": host,
                    "SENDGRID_API_KEY": key,
                },
                ok=False,
            )
            for key in ("good", "readonly", "wrong")
        }
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert outcomes["good"].returncode == 0
    assert outcomes["good"].stdout.startswith("sendgrid: ok (")
    assert outcomes["readonly"].returncode == 1
    assert "lacks the mail.send scope" in outcomes["readonly"].stdout
    assert outcomes["wrong"].returncode == 1
    assert "refused the API key (401)" in outcomes["wrong"].stdout


def test_the_ses_verdict_reads_get_account() -> None:
    client = boto3.session.Session().client(
        "sesv2", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    with Stubber(client) as stub:
        stub.add_response("get_account", {"SendingEnabled": True, "ProductionAccessEnabled": False})
        assert (
            ses_verdict(client, "here") == "here: credentials accepted, sending enabled (sandbox)"
        )
        stub.add_response("get_account", {"SendingEnabled": False})
        with pytest.raises(CheckFailed, match="sending is disabled"):
            ses_verdict(client, "here")
        stub.add_client_error("get_account", "AccessDeniedException", http_status_code=403)
        assert "credentials accepted; not allowed" in ses_verdict(client, "here")
        stub.add_client_error("get_account", "UnrecognizedClientException", http_status_code=403)
        with pytest.raises(ClientError):
            ses_verdict(client, "here")
