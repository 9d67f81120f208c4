"""Hostile inputs through the real API and a real worker: each is a 4xx in the envelope or an
email that ends `failed` with its reason; nothing reaches the SMTP sink; the service still
sends a normal email right after (docs/reliability.md, "What a caller cannot do")."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.smtp_sink import SmtpSink
from tests.support.stack import FINAL, Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]

BASE = {"from": "noreply@example.com", "to": "ann@example.com", "subject": "Hi"}
PDF = b"%PDF-1.4\n" + b"invoice " * 200
DEEP_IFS = "{% if true %}" * 101 + "x" + "{% endif %}" * 101

# name -> the /send body (JSON-able, or raw bytes) that must be refused with a 4xx.
REFUSED: dict[str, Any] = {
    "center bomb": {**BASE, "html": "{{ 'a'|center(10**8) }}"},
    "format bomb": {**BASE, "html": "{{ '%0100000000d' % 1 }}"},
    "power tower": {**BASE, "html": "{{ ((((9**100)**100)**100)**100) }}"},
    "nested loops": {
        **BASE,
        "html": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    },
    "join bomb": {**BASE, "html": "{{ [('a' * 100000)] * 2000 | join }}"},
    "deep parentheses": {**BASE, "html": "{{ " + "(" * 150 + "1" + ")" * 150 + " }}"},
    "deep ifs": {**BASE, "html": DEEP_IFS},
    "deep JSON": b"[" * 100_000,
    "huge int": (
        b'{"from": "noreply@example.com", "to": "ann@example.com", "subject": "s", '
        b'"html": "{{ n }}", "variables": {"n": ' + b"9" * 5000 + b"}}"
    ),
    "deep variables": {**BASE, "html": "x", "variables": {"v": json.loads("[" * 500 + "]" * 500)}},
    "css import": {
        **BASE,
        "html": "<p>x</p>",
        "customStyle": "@import url(http://evil.test/x.css);",
    },
    "css url": {
        **BASE,
        "html": "<p>x</p>",
        "customStyle": "p { background: url(http://evil.test/) }",
    },
    "css expression": {
        **BASE,
        "html": "<p>x</p>",
        "customStyle": "p { width: expression(alert(1)) }",
    },
    "bucket not allowed": {**BASE, "text": "t", "attachments": ["private/payroll.pdf"]},
    "escaping key": {**BASE, "text": "t", "attachments": ["invoices/../private/payroll.pdf"]},
}


def raw(stack: Stack, path: str, body: bytes, key: str) -> tuple[int, Any]:
    """POST `body` as it is, as JSON, with `key`."""
    req = urllib.request.Request(
        stack.api_url + path,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def get(stack: Stack, path: str, key: str) -> tuple[int, Any]:
    req = urllib.request.Request(stack.api_url + path, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def wait_final(stack: Stack, email_id: str, timeout: float = 90) -> dict[str, Any]:
    """Poll once a second (the key's rate limit is small) until the email is final."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        email = stack.email(email_id)
        if email["status"] in FINAL:
            return email
        time.sleep(1)
    raise TimeoutError(f"{email_id} not final:\n{stack.dump_logs()}")


def reason(email: dict[str, Any]) -> str:
    return " ".join(str(e["detail"]) for e in email["events"] if e["type"] == "failed")


def assert_refused(status: int, answer: Any, case: str) -> None:
    assert 400 <= status < 500, (case, status, answer)
    assert answer["status"] == "error" and answer["message"] and answer["error"], (case, answer)


def test_hostile_inputs_change_nothing(stack: Stack, smtp_sink: SmtpSink) -> None:
    root = Path(stack.env["STORAGE_LOCAL_ROOT"])
    for key, data in {"invoices/inv.pdf": PDF, "private/payroll.pdf": PDF}.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_sink.port),
            "MAILROOM_ALLOWED_BUCKETS": "invoices",
            "MAX_ATTACHMENTS_BYTES": "10000",
            "MAILROOM_RATE_LIMIT": "100/minute",
        }
    )
    key = stack.migrate_and_key()
    victim = stack.cli("keys", "create", "--name", "victim", "--scopes", "send,read")
    victim = victim.strip().splitlines()[-1]
    stack.start_api(workers=1)  # one process: one rate-limit counter (memory://)
    stack.start_worker(env={"MAILROOM_RENDER_TIME_LIMIT_SECONDS": "0.5"})

    # Refused at the door: 4xx in the envelope, nothing stored.
    for case, body in REFUSED.items():
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, answer = raw(stack, "/send", data, key)
        assert_refused(status, answer, case)
    assert get(stack, "/emails", key)[1]["data"]["items"] == []

    # Accepted, then failed by the worker with the reason.
    slow = stack.send(
        {
            **BASE,
            "html": "<div class='a'><p class='b'>hello <b>x</b></p></div>" * 20_000,
            "customStyle": ".a{color:red} .b{margin:0} p b{font-weight:bold} div p{padding:1px}",
        }
    )
    grows = stack.send({**BASE, "text": "t", "attachments": ["invoices/inv.pdf"]})
    (root / "invoices/inv.pdf").write_bytes(PDF * 20)  # after the API's check
    failed = {eid: wait_final(stack, eid) for eid in (slow, grows)}
    assert failed[slow]["status"] == "failed"
    assert "rendering took longer than 0.5 s" in reason(failed[slow])
    assert failed[grows]["status"] == "failed"
    assert "over the limit of 10000 bytes" in reason(failed[grows])

    # A flood with the victim's prefix and a made-up secret: limited per address, 401s.
    prefix = victim.removeprefix("mr_").split("_", 1)[0]
    flood = [get(stack, "/emails", f"mr_{prefix}_junk")[0] for _ in range(110)]
    assert set(flood) <= {401, 429} and flood.count(429) >= 10, flood

    assert smtp_sink.received == []

    # The service, and the victim's budget, are intact: a normal send goes out.
    status, answer = raw(stack, "/send", json.dumps({**BASE, "text": "fine"}).encode(), victim)
    assert status == 200, answer
    assert wait_final(stack, answer["data"]["emailId"])["status"] == "sent"
    assert [m.rcpt_tos for m in smtp_sink.received] == [["ann@example.com"]]
