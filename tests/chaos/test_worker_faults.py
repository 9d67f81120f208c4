"""Workers killed with -9: mid-load, holding a scheduled email, rendering a large template."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.chaos.harness import (
    Census,
    HeldTask,
    Load,
    held_tasks,
    plain_email,
    smtp_ids,
    tally,
    wait_holding,
)
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.chaos]

# 1,000 at the default pace takes 85 s on two cores; MAILROOM_CHAOS_KILL_WORKER=1000 for that.
KILL_WORKER_EMAILS = int(os.environ.get("MAILROOM_CHAOS_KILL_WORKER", "600"))


def _smtp(stack: Stack, sink: SmtpSink) -> None:
    # A provider that takes a tenth of a second: a worker holds each send long enough for a
    # kill to find one (an instant sink leaves a send in flight for a millisecond).
    sink.latency = 0.1
    stack.env.update(
        {"EMAIL_PROVIDERS": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(sink.port)}
    )


def test_kill_worker_mid_load(chaos_stack: Stack, census: Census, smtp_sink: SmtpSink) -> None:
    """kill -9 one worker's process group while 1,000 emails flow: none lost, duplicates few."""
    _smtp(chaos_stack, smtp_sink)
    chaos_stack.migrate_and_key()
    chaos_stack.start_api()
    chaos_stack.start_worker("w1", concurrency=2)
    chaos_stack.start_worker("w2", concurrency=2)
    chaos_stack.start_beat()
    started = time.monotonic()
    load = Load(chaos_stack, lambda n: plain_email("kill-worker", n), KILL_WORKER_EMAILS).start()
    while len(smtp_ids(smtp_sink)) < KILL_WORKER_EMAILS // 3:
        time.sleep(0.2)
    # The fault is a claim dying with its worker: kill while w1 holds a send.
    wait_holding(chaos_stack.logs["w1"], lambda held: _named(held, "mailroom.send"))
    chaos_stack.kill("w1", signal.SIGKILL)  # at once, before a send can finish
    at_death = held_tasks(chaos_stack.logs["w1"])
    in_flight = census.counts().get("sending", 0)  # a dead worker's claims stay until they expire
    load.join()
    census.wait_final(len(load.accepted), timeout=180)
    result = tally(
        "kill-worker",
        census,
        load,
        load.accepted,
        {"smtp": smtp_ids(smtp_sink)},
        started,
        {"in_flight_at_kill": in_flight, "held_at_kill": [t.name for t in at_death]},
    )
    result.report()
    assert at_death, "w1 held no task when it was killed: the fault struck nothing"
    assert load.statuses() == {200: KILL_WORKER_EMAILS}, load.statuses()
    result.assert_delivered()
    # prefetch 1 x concurrency 2: the killed worker held at most two emails.
    assert result.duplicates <= 2, result.line()


def _named(held: list[HeldTask], name: str, email_id: str | None = None) -> bool:
    """Whether a task called `name` (for `email_id`, if given) is among `held`."""
    return any(t.name == name and (email_id is None or email_id in t.args) for t in held)


def _templates(stack: Stack) -> tuple[str, str]:
    def create(body: dict[str, Any]) -> str:
        status, answer = stack.request("POST", "/templates", body)
        assert status == 201, answer
        return str(answer["data"]["templateId"])

    item = create(
        {
            "name": "item",
            "subject": "-",
            "html": "<li class='item'><b>{{ NAME }}</b>: <i>{{ PRICE }}</i> "
            + "<span class='d'>lorem ipsum dolor sit amet</span> " * 5
            + "</li>",
            "variables": [{"name": "NAME"}, {"name": "PRICE"}],
        }
    )
    parent = create(
        {
            "name": "catalogue",
            "subject": "Catalogue for {{ CLIENT }}",
            "html": "<style>.item{color:#333;padding:2px} .d{font-size:10px} b{color:red}</style>"
            "<h1>Hello {{ CLIENT }}</h1><ul>{{ ITEMS }}</ul>",
            "variables": [
                {"name": "CLIENT", "required": True},
                {"name": "ITEMS", "type": "template"},
            ],
        }
    )
    return parent, item


def test_kill_worker_holding_scheduled_and_rendering(
    chaos_stack: Stack, census: Census, smtp_sink: SmtpSink
) -> None:
    """A worker killed holding a near scheduled email and rendering 100-item templates."""
    _smtp(chaos_stack, smtp_sink)
    chaos_stack.migrate_and_key()
    chaos_stack.start_api()
    chaos_stack.start_beat()
    parent, item = _templates(chaos_stack)
    chaos_stack.start_worker("w1", concurrency=2)
    started = time.monotonic()
    # Far enough for a loaded machine to reach the kill first (asserted below), near enough
    # to be published with an eta that w1 holds.
    send_at = datetime.now(UTC) + timedelta(seconds=25)
    scheduled = chaos_stack.send({**plain_email("scheduled", 0), "sendAt": send_at.isoformat()})

    def nested(n: int) -> dict[str, Any]:
        items = [
            {"templateId": item, "variables": {"NAME": f"i{i}", "PRICE": i}} for i in range(100)
        ]
        return {
            "from": "chaos@example.com",
            "to": f"user{n}@example.com",
            "templateId": parent,
            "variables": {"CLIENT": f"client {n}", "ITEMS": items},
            "customStyle": "li { margin: 0 } h1 { font-size: 20px }",
        }

    load = Load(chaos_stack, nested, 40, threads=4).start()
    while load.done < 20:  # w1 renders the large templates while more arrive
        time.sleep(0.1)

    def holding_both(held: list[HeldTask]) -> bool:
        # The scheduled email's render waits in w1's memory for its eta; another one runs.
        return _named(held, "mailroom.render", scheduled) and any(
            t.name == "mailroom.render" and scheduled not in t.args for t in held
        )

    wait_holding(chaos_stack.logs["w1"], holding_both, timeout=15)
    # Kill at once: a render lasts milliseconds, so even a census query first can outlast it.
    killed_at = datetime.now(UTC)
    chaos_stack.kill("w1", signal.SIGKILL)
    at_death = held_tasks(chaos_stack.logs["w1"])
    at_kill = census.counts()
    chaos_stack.start_worker("w2", concurrency=2)
    load.join()
    accepted = [scheduled, *load.accepted]
    census.wait_final(len(accepted), timeout=120)
    result = tally(
        "kill-worker-scheduled-render",
        census,
        load,
        accepted,
        {"smtp": smtp_ids(smtp_sink)},
        started,
        {"at_kill": at_kill, "held_at_kill": [t.name for t in at_death]},
    )
    result.report()
    assert killed_at < send_at and holding_both(at_death), (
        f"w1 was killed at {killed_at} (sendAt {send_at}) holding {at_death}: not the scheduled "
        "email's render and another email's render, so the fault struck something else"
    )
    result.assert_delivered()
    assert smtp_ids(smtp_sink).count(scheduled) == 1
    [(sent_at,)] = census.query(
        "SELECT min(at) FROM email_events WHERE email_id = %s AND type = 'sent'", (scheduled,)
    )
    assert sent_at >= send_at, (sent_at, send_at)  # killed early, never sent early
    assert len(load.accepted) == 40
    assert result.duplicates <= 2, result.line()


BATCH_EMAILS = 1000


def test_kill_worker_mid_batch(chaos_stack: Stack, census: Census, smtp_sink: SmtpSink) -> None:
    """kill -9 a worker while it sends batches (tasks/batch.py): none lost, and a copy
    sent twice only for an email whose claim the killed process held, at most one record
    group (RECORD_EVERY sends) per pool process."""
    from tasks.batch import RECORD_EVERY

    _smtp(chaos_stack, smtp_sink)
    chaos_stack.migrate_and_key()
    chaos_stack.start_api()
    chaos_stack.start_worker("w1", concurrency=2)
    chaos_stack.start_worker("w2", concurrency=2)
    chaos_stack.start_beat()
    started = time.monotonic()
    accepted: list[str] = []
    for start in range(0, BATCH_EMAILS, 500):
        recipients = [
            {"to": f"batch{n}@example.com", "variables": {"N": n}}
            for n in range(start, start + 500)
        ]
        status, answer = chaos_stack.request(
            "POST",
            "/send/batch",
            {
                "from": "chaos@example.com",
                "subject": "Batch {{ N }}",
                "text": "Hello {{ N }}",
                "recipients": recipients,
            },
        )
        assert status == 200, answer
        accepted.extend(answer["data"]["emailIds"])
    while len(smtp_ids(smtp_sink)) < BATCH_EMAILS // 4:
        time.sleep(0.1)
    # A batch is prepared in a moment; its groups are where the sends happen.
    wait_holding(chaos_stack.logs["w1"], lambda held: _named(held, "mailroom.send_group"))
    chaos_stack.kill("w1", signal.SIGKILL)  # at once, before a send can finish
    at_death = held_tasks(chaos_stack.logs["w1"])
    in_flight = census.counts().get("sending", 0)  # a dead worker's claims stay until they expire
    census.wait_final(len(accepted), timeout=240)
    result = tally(
        "kill-worker-mid-batch",
        census,
        None,
        accepted,
        {"smtp": smtp_ids(smtp_sink)},
        started,
        {"in_flight_at_kill": in_flight, "held_at_kill": [t.name for t in at_death]},
    )
    result.report()
    assert _named(at_death, "mailroom.send_group"), f"w1 held no group when killed: {at_death}"
    result.assert_delivered()
    assert result.duplicates <= 2 * RECORD_EVERY, result.line()
