"""The API process dies between its commit and its publish: the sweeper sends those emails."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.chaos.harness import Census, Load, plain_email, smtp_ids, tally
from tests.support.smtp_sink import SmtpSink
from tests.support.stack import REPO_ROOT, Stack

pytestmark = [pytest.mark.chaos]

HOOK = "MAILROOM_TEST_CRASH_AFTER_COMMIT"
EVERY = 10


@pytest.mark.skipif(
    HOOK not in (REPO_ROOT / "api" / "accept.py").read_text(),
    reason=f"api/accept.py has no {HOOK} test hook yet",
)
def test_crash_between_commit_and_publish(
    chaos_stack: Stack, census: Census, smtp_sink: SmtpSink
) -> None:
    """Every EVERY-th accepted email kills its gunicorn worker after the commit."""
    chaos_stack.env.update(
        {"EMAIL_PROVIDERS": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_sink.port)}
    )
    chaos_stack.migrate_and_key()
    chaos_stack.start_api(env={HOOK: str(EVERY)})
    chaos_stack.start_worker("w1")
    chaos_stack.start_worker("w2")
    chaos_stack.start_beat()
    started = time.monotonic()
    load = Load(chaos_stack, lambda n: plain_email("api-crash", n), 200, rate=8).run()
    unanswered = {f"chaos api-crash #{a.n}" for a in load.answers if a.status != 200}
    stored = sum(census.counts().values())
    census.wait_final(stored, timeout=120)
    orphans = census.query(
        "SELECT e.id::text, e.status, e.created_at, min(ev.at) FROM emails e "
        "LEFT JOIN email_events ev ON ev.email_id = e.id AND ev.type = 'sent' "
        "WHERE e.subject = ANY(%s) GROUP BY e.id, e.status, e.created_at",
        (sorted(unanswered),),
    )
    lease = timedelta(seconds=float(chaos_stack.env["MAILROOM_SWEEP_LEASE_SECONDS"]))
    slowest = max((sent - created for _, _, created, sent in orphans if sent), default=None)
    result = tally(
        "api-crash-after-commit",
        census,
        load,
        [*load.accepted, *(eid for eid, *_ in orphans)],
        {"smtp": smtp_ids(smtp_sink)},
        started,
        {
            "crashes": len(unanswered),
            "orphans_stored": len(orphans),
            "slowest_orphan_seconds": slowest.total_seconds() if slowest else None,
        },
    )
    result.report()
    assert unanswered, "the hook never fired"
    assert {status for _, status, _, _ in orphans} <= {"sent"}, orphans
    assert slowest is not None and slowest <= lease + timedelta(seconds=15), slowest
    assert result.lost == 0, result.line()
    assert result.duplicates == 0, result.line()
