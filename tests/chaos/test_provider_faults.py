"""Providers fail: one dies and comes back, one accepts but answers too late, a poison email."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.chaos.harness import Census, Load, plain_email, sendgrid_ids, smtp_ids, tally
from tests.support.sendgrid_server import SendGridServer
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.chaos]


@pytest.fixture
def sendgrid() -> Iterator[SendGridServer]:
    with SendGridServer(api_key="SG.chaos") as server:
        yield server


def _providers(stack: Stack, order: str, smtp_port: int, sendgrid: SendGridServer) -> None:
    stack.env.update(
        {
            "EMAIL_PROVIDERS": order,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_TIMEOUT": "3",
            "SENDGRID_API_KEY": sendgrid.api_key,
            "SENDGRID_HOST": sendgrid.url,
        }
    )


def test_first_provider_dies_and_returns(
    chaos_stack: Stack, census: Census, smtp_sink: SmtpSink, sendgrid: SendGridServer
) -> None:
    """SMTP refuses connections for 15 s: SendGrid takes over, then SMTP takes traffic again."""
    proxy = TcpProxy(smtp_sink.port).start()
    try:
        _providers(chaos_stack, "smtp,sendgrid", proxy.port, sendgrid)
        chaos_stack.migrate_and_key()
        chaos_stack.start_api()
        chaos_stack.start_worker("w1")
        chaos_stack.start_worker("w2")
        chaos_stack.start_beat()
        started = time.monotonic()
        load = Load(chaos_stack, lambda n: plain_email("provider-down", n), 360, rate=8).start()
        time.sleep(10)
        before = (len(smtp_ids(smtp_sink)), len(sendgrid_ids(sendgrid)))
        proxy.stop()
        time.sleep(15)
        during = (len(smtp_ids(smtp_sink)) - before[0], len(sendgrid_ids(sendgrid)) - before[1])
        proxy.start()
        load.join()
        census.wait_final(len(load.accepted), timeout=120)
    finally:
        proxy.stop()
    after = (
        len(smtp_ids(smtp_sink)) - before[0] - during[0],
        len(sendgrid_ids(sendgrid)) - before[1] - during[1],
    )
    circuit = census.query("SELECT name, failures, opened_until FROM provider_states ORDER BY name")
    result = tally(
        "provider-down",
        census,
        load,
        load.accepted,
        {"smtp": smtp_ids(smtp_sink), "sendgrid": sendgrid_ids(sendgrid)},
        started,
        {
            "before_smtp_sendgrid": before,
            "during": during,
            "after": after,
            "circuits": [(n, f, str(o)) for n, f, o in circuit],
        },
    )
    result.report()
    # The outage struck: SMTP took traffic before, none during (SendGrid did), some after.
    assert before[0] > 0 and during[0] == 0 and during[1] > 0, result.line()
    result.assert_delivered()
    assert result.duplicates == 0, result.line()
    assert after[0] > 0, result.line()  # the circuit closed and SMTP took traffic again
    assert ("smtp", 0, "None") in [(n, f, str(o)) for n, f, o in circuit], circuit


def test_provider_answers_after_the_timeout(
    chaos_stack: Stack, census: Census, smtp_sink: SmtpSink, sendgrid: SendGridServer
) -> None:
    """SendGrid accepts but answers after the client gave up: retried on SendGrid only."""
    _providers(chaos_stack, "sendgrid,smtp", smtp_sink.port, sendgrid)
    chaos_stack.env["SENDGRID_TIMEOUT"] = "1"
    sendgrid.set_mode("hang", hang_seconds=2)
    chaos_stack.migrate_and_key()
    chaos_stack.start_api()
    chaos_stack.start_worker("w1")
    chaos_stack.start_worker("w2")
    chaos_stack.start_beat()
    started = time.monotonic()
    load = Load(chaos_stack, lambda n: plain_email("ambiguous", n), 30, rate=None).run()
    deadline = time.monotonic() + 30
    while sum(census.events("ambiguous").values()) < 30 and time.monotonic() < deadline:
        time.sleep(0.5)
    sendgrid.set_mode("accept")
    census.wait_final(len(load.accepted), timeout=120, settle=3)
    ambiguous = census.events("ambiguous")
    received = {"sendgrid": sendgrid_ids(sendgrid), "smtp": smtp_ids(smtp_sink)}
    cross = set(received["sendgrid"]) & set(received["smtp"])
    result = tally(
        "ambiguous-timeout",
        census,
        load,
        load.accepted,
        received,
        started,
        {"ambiguous_attempts": sum(ambiguous.values()), "cross_provider": len(cross)},
    )
    result.report()
    # The fault struck: the loop above waited for 30 timed-out attempts, and every one of them
    # left a copy at SendGrid (it records the message before it hangs).
    assert sum(ambiguous.values()) >= 30, f"too few ambiguous attempts: {result.line()}"
    assert result.duplicates > 0, result.line()
    result.assert_delivered()
    assert set(result.statuses) == {"sent"}, result.line()  # the provider has every one
    assert not cross, cross
    assert result.duplicates <= sum(ambiguous.values()), result.line()
    for eid in load.accepted:
        assert received["sendgrid"].count(eid) <= 1 + ambiguous[eid], eid


def test_poison_email_fails_without_blocking(
    chaos_stack: Stack, census: Census, smtp_sink: SmtpSink
) -> None:
    """A brand whose header breaks only in the worker: that email fails, the others flow."""
    chaos_stack.env.update(
        {"EMAIL_PROVIDERS": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_sink.port)}
    )
    chaos_stack.migrate_and_key()
    chaos_stack.start_api()
    chaos_stack.start_worker("w1")
    chaos_stack.start_beat()
    # The API stores a brand without rendering its header. POST /send would now refuse the email
    # (it builds the final HTML for its answer), but a batch's template emails are rendered and
    # wrapped by the workers alone (render.finalize): it passes the API and breaks in the worker.
    status, brand = chaos_stack.request(
        "POST", "/brands", {"name": "Broken", "header": "<div>{{ brandName.nope() }}</div>"}
    )
    assert status == 201, brand
    status, template = chaos_stack.request(
        "POST",
        "/templates",
        {
            "name": "branded",
            "subject": "Hi",
            "html": "<p>Hello</p>",
            "brandId": brand["data"]["brandId"],
            "brandStyles": True,
        },
    )
    assert status == 201, template
    started = time.monotonic()
    status, batch = chaos_stack.request(
        "POST",
        "/send/batch",
        {
            "from": "a@example.com",
            "templateId": template["data"]["templateId"],
            "recipients": [{"to": "b@example.com"}],
        },
    )
    assert status == 200, batch
    [poison] = batch["data"]["emailIds"]
    load = Load(chaos_stack, lambda n: plain_email("poison", n), 100, rate=None).run()
    census.wait_final(len(load.accepted) + 1, timeout=90)
    [(poison_status, reason)] = census.query(
        "SELECT status, last_error FROM emails WHERE id = %s", (poison,)
    )
    retries = census.events("retry")[poison]
    result = tally(
        "poison",
        census,
        load,
        [poison, *load.accepted],
        {"smtp": smtp_ids(smtp_sink)},
        started,
        {"poison": poison_status, "poison_retries": retries, "reason": reason},
        expect_sent=load.accepted,
    )
    result.report()
    assert poison_status == "failed", result.line()
    assert reason and "Brand" in reason, reason
    result.assert_delivered()  # every email but the poison one
    assert sorted(smtp_ids(smtp_sink)) == sorted(load.accepted)
