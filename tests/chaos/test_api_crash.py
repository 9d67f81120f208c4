"""The API process dies between its commit and its publish: the sweeper sends those emails."""

from __future__ import annotations

import time

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
    orphans = [
        eid
        for (eid,) in census.query(
            "SELECT id::text FROM emails WHERE subject = ANY(%s)", (sorted(unanswered),)
        )
    ]
    requeued = census.events("requeued")
    result = tally(
        "api-crash-after-commit",
        census,
        load,
        [*load.accepted, *orphans],
        {"smtp": smtp_ids(smtp_sink)},
        started,
        {
            "crashes": len(unanswered),
            "orphans_stored": len(orphans),
            "orphans_requeued": sum(1 for eid in orphans if requeued[eid]),
        },
    )
    result.report()
    # The hook fired, each time after the commit: every unanswered request left a row.
    assert unanswered, "the hook never fired"
    assert len(orphans) == len(unanswered), result.line()
    # Only the sweeper could publish them: each was re-published (a `requeued` event).
    assert all(requeued[eid] for eid in orphans), result.line()
    result.assert_delivered()
    assert result.duplicates == 0, result.line()
