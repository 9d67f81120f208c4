"""Logs and metrics from real processes: one correlation id from request to last task."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        raw = raw.strip()
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def scrape(stack: Stack) -> str:
    with urllib.request.urlopen(stack.api_url + "/metrics", timeout=10) as resp:
        assert resp.status == 200
        return str(resp.read().decode())


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample, 0 when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        got_name, _, got_labels = metric.partition("{")
        pairs = sorted(re.findall(r'(\w+)="([^"]*)"', got_labels))
        if got_name == name and ",".join(f'{k}="{v}"' for k, v in pairs) == wanted:
            return float(value)
    return 0.0


def test_correlation_id_and_metrics(stack: Stack) -> None:
    stack.env.update({"EMAIL_PROVIDERS": "outbox", "SMTP_PASSWORD": "hunter2-secret"})
    key = stack.migrate_and_key()
    stack.start_api()
    stack.start_worker()
    before = scrape(stack)

    body = {
        "from": "a@example.com",
        "to": "b@example.com",
        "subject": "Logs",
        "html": "<p>the body text should never reach a log</p>",
    }
    status, answer = stack.request("POST", "/send", body, headers={"X-Request-ID": "req-4242"})
    assert status == 200
    eid = answer["data"]["emailId"]
    stack.wait_for([eid], done=lambda e: any(ev["type"] == "recorded" for ev in e["events"]))

    worker = [line for line in json_lines(stack.logs["worker"]) if line.get("email_id") == eid]
    tasks = {line["task"] for line in worker}
    assert tasks == {
        "mailroom.render",
        "mailroom.fetch_attachments",
        "mailroom.send",
        "mailroom.record_status",
    }, tasks
    assert {line["correlation_id"] for line in worker} == {"req-4242"}
    assert any(line.get("provider") == "outbox" for line in worker)
    api = [line for line in json_lines(stack.logs["api"]) if line.get("email_id") == eid]
    assert api and {line["correlation_id"] for line in api} == {"req-4242"}

    everything = "".join(path.read_text(errors="replace") for path in stack.logs.values())
    for secret in (key, key.split("_", 2)[2], "hunter2-secret", "should never reach a log"):
        assert secret not in everything

    after = scrape(stack)
    assert (
        sample(after, "mailroom_emails_total", status="sent", mode="live")
        == sample(before, "mailroom_emails_total", status="sent", mode="live") + 1
    )
    assert sample(after, "mailroom_emails_total", status="queued", mode="live") >= 1
    assert sample(after, "mailroom_send_attempts_total", provider="outbox", outcome="accepted") == 1
    assert sample(after, "mailroom_send_seconds_count", provider="outbox") == 1
    assert sample(after, "mailroom_render_seconds_count", stage="api") >= 1
    assert sample(after, "mailroom_render_seconds_count", stage="worker") >= 1
    assert "mailroom_queue_depth" in after
    assert sample(after, "mailroom_emails_in_flight", status="queued") == 0
