"""Celery time limits with a real worker: a render that outlasts its soft limit fails its email
with the reason, once (no retry loop), and the worker goes on to the next email."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.smtp_sink import SmtpSink
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]

# A megabyte of markup and a style sheet to inline into it: seconds of CSS inlining in the
# worker's render step, within the render budget, well over a half-second limit.
SLOW = {
    "from": "noreply@example.com",
    "to": "ann@example.com",
    "subject": "Slow",
    "html": "<div class='a'><p class='b'>hello <b>x</b></p></div>" * 20_000,
    "customStyle": ".a{color:red} .b{margin:0} p b{font-weight:bold} div p{padding:1px}",
}
QUICK = {
    "from": "noreply@example.com",
    "to": "bob@example.com",
    "subject": "Hi",
    "html": "<p>Hi</p>",
}


def _failures(email: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in email["events"] if e["type"] == "failed"]


def test_a_render_over_its_soft_time_limit_fails_the_email(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    stack.send_through_smtp(smtp_sink.port)
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker(env={"MAILROOM_RENDER_TIME_LIMIT_SECONDS": "0.5"})

    slow = stack.send(SLOW)
    final = stack.wait_for([slow])[slow]
    assert final["status"] == "failed", final
    [failed] = _failures(final)
    assert "rendering took longer than 0.5 s" in failed["detail"]
    assert "MAILROOM_RENDER_TIME_LIMIT_SECONDS" in failed["detail"]
    # Failed by the render task itself: no retries, nothing sent.
    assert stack.tail("worker", 400).count("Retry in") == 0
    assert smtp_sink.received == []

    quick = stack.send(QUICK)
    assert stack.wait_for([quick])[quick]["status"] == "sent"
    assert [m.rcpt_tos for m in smtp_sink.received] == [["bob@example.com"]]


def test_every_task_carries_its_time_limits(stack: Stack) -> None:
    """The worker's tasks carry their limits: the render task's, from the setting."""
    stack.env["MAILROOM_RENDER_TIME_LIMIT_SECONDS"] = "7"
    out = stack.python(
        "from tasks.app import celery_app\n"
        "celery_app.loader.import_default_modules()\n"
        "for name in ('mailroom.render', 'mailroom.send', 'mailroom.send_batch'):\n"
        "    t = celery_app.tasks[name]\n"
        "    print(name, t.soft_time_limit, t.time_limit)\n"
    )
    limits = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert limits["mailroom.render"] == ["7.0", "22.0"]
    assert all(float(soft) > 0 for soft, _ in limits.values())
