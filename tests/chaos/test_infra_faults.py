"""The broker and the database fail under load: stopped, killed, restarted."""

from __future__ import annotations

import os
import time

import pytest

from tests.chaos.harness import Census, Load, broker_lost, plain_email, smtp_ids, tally
from tests.chaos.services import PgCluster, RabbitNode
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import FINAL, Stack

pytestmark = [pytest.mark.chaos]

# Queue durability posts this many emails; MAILROOM_CHAOS_DURABILITY=5000 for the full count
# (about ten minutes on two cores: delivery, not the broker, is the slow part).
DURABILITY = int(os.environ.get("MAILROOM_CHAOS_DURABILITY", "1000"))


def _start(stack: Stack, sink: SmtpSink, *, workers: int = 2, beat: bool = True) -> None:
    stack.env.update(
        {"EMAIL_PROVIDERS": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(sink.port)}
    )
    stack.migrate_and_key()
    stack.start_api()
    for i in range(workers):
        stack.start_worker(f"w{i + 1}", concurrency=2)
    if beat:
        stack.start_beat()


def _settled_depth(rabbit: RabbitNode, queue: str, expected: int, timeout: float = 20) -> int:
    """The queue's depth once it reads `expected` (quorum queues report it late) or times out."""
    deadline = time.monotonic() + timeout
    depth = rabbit.queue_depth(queue)
    while depth != expected and time.monotonic() < deadline:
        time.sleep(1)
        depth = rabbit.queue_depth(queue)
    return depth


def _answers_between(load: Load, start: float, end: float) -> dict[int, int]:
    counts: dict[int, int] = {}
    for a in load.answers:
        if start <= a.started <= end:
            counts[a.status] = counts.get(a.status, 0) + 1
    return counts


def test_rabbitmq_stopped_for_20_seconds(
    chaos_stack: Stack, census: Census, smtp_sink: SmtpSink, rabbit: RabbitNode
) -> None:
    """Broker down: every request still answered 200 (the committed row is the outbox), never a
    503, a 500 nor a hung request; the sweeper sends what the API could not publish."""
    _start(chaos_stack, smtp_sink)
    started = time.monotonic()
    load = Load(chaos_stack, lambda n: plain_email("rabbit-stop", n), 400, rate=8).start()
    time.sleep(6)
    down = time.monotonic()
    rabbit.stop()
    time.sleep(20)
    rabbit.start()
    up = time.monotonic()
    load.join()
    stored = sum(census.counts().values())
    census.wait_final(stored, timeout=150)
    during = _answers_between(load, down, up)
    result = tally(
        "rabbit-stop-20s",
        census,
        load,
        load.accepted,
        {"smtp": smtp_ids(smtp_sink)},
        started,
        {
            "down_seconds": round(up - down, 1),
            "answers_while_down": during,
            "max_latency": round(load.max_latency(), 2),
            "stored": stored,
        },
        expect_sent=census.stored(),  # every stored email, answered or not
    )
    result.report()
    statuses = load.statuses()
    # The outage struck: requests met it, both workers lost their connection, and the API's
    # publishes failed (the sweeper re-published those emails: a `requeued` event each).
    assert sum(during.values()) > 0, during
    assert all(broker_lost(chaos_stack.logs[w]) for w in ("w1", "w2")), result.line()
    met_outage = [a.email_id for a in load.answers if down <= a.started <= up and a.email_id]
    requeued = census.events("requeued")
    assert any(requeued[eid] for eid in met_outage), result.line()
    # 0 non-200 answers, during the outage or not (a hung request ends as 0, no answer).
    assert statuses == {200: 400}, statuses
    assert sorted(load.accepted) == sorted(census.stored()), result.line()
    result.assert_delivered()
    assert result.duplicates == 0, result.line()


def test_rabbitmq_killed_and_restarted(
    chaos_stack: Stack, census: Census, smtp_sink: SmtpSink, rabbit: RabbitNode
) -> None:
    """kill -9 of the broker: nothing lost, no provider send twice (the send claim holds)."""
    _start(chaos_stack, smtp_sink)
    started = time.monotonic()
    load = Load(chaos_stack, lambda n: plain_email("rabbit-kill", n), 300, rate=8).start()
    time.sleep(8)
    at_kill = census.counts()
    rabbit.kill()
    rabbit.start()
    load.join()
    stored = sum(census.counts().values())
    census.wait_final(stored, timeout=150)
    result = tally(
        "rabbit-kill-9",
        census,
        load,
        load.accepted,
        {"smtp": smtp_ids(smtp_sink)},
        started,
        {"at_kill": at_kill, "stored": stored, "max_latency": round(load.max_latency(), 2)},
        expect_sent=census.stored(),
    )
    result.report()
    # The kill struck: emails were in flight, and both workers lost their connection.
    assert sum(n for s, n in at_kill.items() if s not in FINAL) > 0, at_kill
    assert all(broker_lost(chaos_stack.logs[w]) for w in ("w1", "w2")), result.line()
    # 0 non-200 answers: a stored email is an accepted one, whatever the broker did.
    assert load.statuses() == {200: 300}, load.statuses()
    assert sorted(load.accepted) == sorted(census.stored()), result.line()
    result.assert_delivered()
    assert result.duplicates == 0, result.line()


def test_postgres_restarted(
    chaos_stack: Stack, census: Census, smtp_sink: SmtpSink, pg: PgCluster
) -> None:
    """Database down for five seconds: 503s, never 500; workers reconnect; nothing stuck."""
    _start(chaos_stack, smtp_sink)
    started = time.monotonic()
    load = Load(chaos_stack, lambda n: plain_email("pg-restart", n), 300, rate=8).start()
    time.sleep(8)
    down = time.monotonic()
    pg.stop("fast")
    time.sleep(5)
    pg.start()
    up = time.monotonic()
    load.join()
    stored = sum(census.counts().values())
    census.wait_final(stored, timeout=150)
    during = _answers_between(load, down, up)
    result = tally(
        "postgres-restart",
        census,
        load,
        load.accepted,
        {"smtp": smtp_ids(smtp_sink)},
        started,
        {
            "down_seconds": round(up - down, 1),
            "answers_while_down": during,
            "max_latency": round(load.max_latency(), 2),
            "stored": stored,
        },
        expect_sent=census.stored(),
    )
    result.report()
    assert during.get(503, 0) > 0, f"no request met the outage: {result.line()}"
    # Every request was answered, 200 or 503: a hung one ends in the client's timeout (0).
    assert set(load.statuses()) <= {200, 503}, load.statuses()
    result.assert_delivered()
    assert result.duplicates <= 2, result.line()


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_queue_survives_broker_restart(
    chaos_stack: Stack,
    census: Census,
    smtp_sink: SmtpSink,
    rabbit: RabbitNode,
    queue_type: str,
) -> None:
    """Emails queued with no worker running, the broker restarted: all of them delivered."""
    chaos_stack.env["MAILROOM_QUEUE_TYPE"] = queue_type
    _start(chaos_stack, smtp_sink, workers=0, beat=False)  # no sweeper: the queue alone
    started = time.monotonic()
    total = DURABILITY if queue_type == "classic" else DURABILITY // 2
    load = Load(
        chaos_stack, lambda n: plain_email(f"durable-{queue_type}", n), total, rate=None, threads=8
    ).run()
    queue = chaos_stack.env["MAILROOM_QUEUE"]
    before = _settled_depth(rabbit, queue, total)
    rabbit.stop()
    rabbit.start()
    after = _settled_depth(rabbit, queue, total)
    # The first sends meet a temporary SMTP refusal, so some emails also take a retry with a
    # countdown: the path quorum queues change (Celery's native delayed delivery).
    smtp_sink.mode = "tempfail-rcpt"
    chaos_stack.start_worker("w1", concurrency=2)
    chaos_stack.start_worker("w2", concurrency=2)
    deadline = time.monotonic() + 90
    while sum(census.events("retry").values()) < 50 and time.monotonic() < deadline:
        time.sleep(1)
    smtp_sink.mode = "accept"
    census.wait_final(total, timeout=400)
    warnings = sum(
        chaos_stack.logs[w].read_text(errors="replace").count("native delayed delivery")
        for w in ("w1", "w2")
    )
    result = tally(
        f"queue-durability-{queue_type}",
        census,
        load,
        load.accepted,
        {"smtp": smtp_ids(smtp_sink)},
        started,
        {
            "queued_before_restart": before,
            "queued_after_restart": after,
            "retries": sum(census.events("retry").values()),
            "delayed_delivery_warnings": warnings,
        },
    )
    result.report()
    assert load.statuses() == {200: total}, load.statuses()
    # The restart met a full queue, and the refusals sent some emails through a delayed retry.
    assert before == after == total, (before, after)
    assert result.notes["retries"] > 0, result.line()
    result.assert_delivered()
    assert result.duplicates == 0, result.line()
