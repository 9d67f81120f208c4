"""Batch and list sends for real: every recipient delivered once with its own values."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import create_engine, func, insert, select, update

from models import Email, ListMember, RecipientList
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]


def smtp(stack: Stack, sink: SmtpSink) -> None:
    stack.env.update(
        {
            "EMAIL_PROVIDERS": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(sink.port),
            "MAILROOM_RATE_LIMIT": "",
        }
    )


def wait_for_count(sink: SmtpSink, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(sink.received) < n and time.monotonic() < deadline:
        time.sleep(0.25)


def test_batch_of_500_with_per_recipient_variables(stack: Stack, smtp_sink: SmtpSink) -> None:
    smtp(stack, smtp_sink)
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker(concurrency=2)
    status, answer = stack.request(
        "POST",
        "/templates",
        {
            "name": "receipt",
            "subject": "Receipt {{ ORDER }}",
            "html": "<p>Dear {{ NAME }}, order {{ ORDER }}</p>",
            "variables": [{"name": "NAME", "required": True}, {"name": "ORDER", "required": True}],
        },
    )
    assert status == 201
    template = answer["data"]["templateId"]
    recipients = [
        {"to": f"user{i}@example.com", "variables": {"NAME": f"User {i}", "ORDER": i}}
        for i in range(500)
    ]
    status, answer = stack.request(
        "POST",
        "/send/batch",
        {
            "from": "shop@example.com",
            "templateId": template,
            "recipients": recipients,
        },
        timeout=60,
    )
    assert status == 200, answer
    ids = answer["data"]["emailIds"]
    assert len(ids) == 500
    wait_for_count(smtp_sink, 500, timeout=180)
    time.sleep(1)
    assert len(smtp_sink.received) == 500
    per_id = Counter(r.message["X-Mailroom-Email-Id"] for r in smtp_sink.received)
    assert set(per_id) == set(ids) and set(per_id.values()) == {1}
    for received in smtp_sink.received:
        [rcpt] = received.rcpt_tos
        i = int(rcpt.removeprefix("user").removesuffix("@example.com"))
        assert received.message["Subject"] == f"Receipt {i}"
        html = received.message.get_body(("html",))
        assert html is not None and f"Dear User {i}, order {i}" in html.get_content()
    sample = stack.email(ids[123])
    assert sample["status"] == "sent" and sample["templateVersion"] == 1


def test_list_of_5000_members(stack: Stack, smtp_sink: SmtpSink) -> None:
    smtp(stack, smtp_sink)
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker(concurrency=2)
    status, answer = stack.request("POST", "/lists", {"name": "everyone"})
    assert status == 201, answer
    list_id = uuid.UUID(answer["data"]["listId"])
    engine = create_engine(stack.env["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(
            insert(ListMember),
            [
                {
                    "list_id": list_id,
                    "email": f"m{i:05d}@example.com",
                    "name": f"M {i}",
                    "variables": {"code": f"C{i}"},
                    "suppressed": False,
                }
                for i in range(5000)
            ],
        )
        conn.execute(update(RecipientList).values(member_count=5000))
    status, answer = stack.request(
        "POST",
        "/send/batch",
        {
            "from": "news@example.com",
            "subject": "Your code",
            "text": "Code {{ code }}",
            "listId": str(list_id),
        },
    )
    assert status == 200, answer
    batch = answer["data"]["batchId"]
    wait_for_count(smtp_sink, 5000, timeout=600)
    time.sleep(1)
    assert len(smtp_sink.received) == 5000
    assert len({r.message["X-Mailroom-Email-Id"] for r in smtp_sink.received}) == 5000
    some = next(r for r in smtp_sink.received if r.rcpt_tos == ["m04242@example.com"])
    body = some.message.get_body(("plain",))
    assert body is not None and "Code C4242" in body.get_content()
    with engine.connect() as conn:
        tagged = conn.scalar(select(func.count()).select_from(Email).where(Email.status == "sent"))
    assert tagged == 5000, batch
    engine.dispose()


def test_throttle_holds_the_rate_across_two_workers(stack: Stack, smtp_sink: SmtpSink) -> None:
    smtp(stack, smtp_sink)
    stack.env["MAILROOM_PROVIDER_RATES"] = "smtp=5"
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker("w1", concurrency=2)
    stack.start_worker("w2", concurrency=2)
    recipients = [{"to": f"t{i}@example.com"} for i in range(40)]
    status, _ = stack.request(
        "POST",
        "/send/batch",
        {"from": "a@example.com", "subject": "s", "text": "t", "recipients": recipients},
    )
    assert status == 200
    ids = [
        stack.send(
            {"from": "a@example.com", "to": f"c{i}@example.com", "subject": "s", "text": "t"}
        )
        for i in range(20)
    ]
    wait_for_count(smtp_sink, 60, timeout=120)
    assert len(smtp_sink.received) == 60
    stack.wait_for(ids)
    # Count arrivals at the SMTP server: over the whole run, and in every 2 s window.
    times = sorted(r.at for r in smtp_sink.received)
    span = times[-1] - times[0]
    achieved = (len(times) - 1) / span
    busiest = max(sum(1 for t in times if start <= t < start + 2.0) for start in times)
    print(
        f"throttle: {len(times)} sends in {span:.1f}s = {achieved:.2f}/s; "
        f"busiest 2 s window {busiest} (limit 5/s, burst 5)"
    )
    assert achieved <= 5 * 1.15
    assert busiest <= 2 * 5 + 5 + 1  # two seconds of tokens, the initial burst, one in transit
