"""The purge scenario: the retention purge deletes a large backlog of old emails while single
sends go on.

    python -m bench.run --only purge --runs 1 [--purge-emails 1000000]   (make bench-purge)

Old emails are made in PostgreSQL itself (generate_series, so a million take seconds, not an
hour of API calls), each with what a sent email has: bodies, three events, an attempt, a
recipient and a tag, all created 400 days ago (past the default record retention). Then
`mailroom purge` runs as an operator (or beat's task) would, with a time bound large enough to
finish, while single sends go on at `rate`/s; their POST -> sink latency is set beside the same
sends without a purge.
"""

from __future__ import annotations

import subprocess
import threading
import time
from statistics import median

import psycopg

from bench.figures import Figures
from bench.scenarios import paced_sends, percentile, waits_ms
from bench.stack import BIN, ROOT, Stack

# The old emails, as a sent email's rows. `n` numbers them; every row is 400 days old.
_INSERT = [
    """
    INSERT INTO emails (id, status, from_addr, to_addrs, cc_addrs, bcc_addrs, subject, html,
        text, variables, attachment_keys, headers, brand_styles, message_id, send_tries,
        requeues, provider, recorded_status, created_at, updated_at)
    SELECT gen_random_uuid(), 'sent', 'bench@example.com', '["old@example.com"]', '[]', '[]',
        'Old ' || n, '<p>' || repeat(md5(n::text), 24) || '</p>', repeat(md5(n::text), 12),
        json_build_object('n', n), '[]', '{}', false, '<' || n || '@bench>', 1, 0, 'smtp',
        'sent', now() - interval '400 days' - n * interval '1 millisecond',
        now() - interval '400 days'
    FROM generate_series(1, %(count)s) AS n
    """,
    """
    INSERT INTO email_events (email_id, type, at, provider)
    SELECT e.id, t.type, e.created_at, 'smtp'
    FROM emails e, (VALUES ('accepted'), ('sent'), ('recorded')) AS t(type)
    WHERE e.created_at < now() - interval '399 days'
    """,
    """
    INSERT INTO send_attempts (email_id, provider, outcome, at, duration_ms)
    SELECT id, 'smtp', 'sent', created_at, 12.5 FROM emails
    WHERE created_at < now() - interval '399 days'
    """,
    """
    INSERT INTO email_recipients (email_id, address, kind)
    SELECT id, 'old@example.com', 'to' FROM emails WHERE created_at < now() - interval '399 days'
    """,
    """
    INSERT INTO email_tags (email_id, tag, position)
    SELECT id, 'old', 0 FROM emails WHERE created_at < now() - interval '399 days'
    """,
    "ANALYZE emails, email_events, send_attempts, email_recipients, email_tags",
]


def insert_old(stack: Stack, count: int) -> float:
    """`count` old sent emails with their rows; seconds it took."""
    began = time.monotonic()
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        for statement in _INSERT:
            conn.execute(statement, {"count": count} if "%(count)s" in statement else None)
    return time.monotonic() - began


def old_left(stack: Stack) -> int:
    """Old emails not purged yet."""
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM emails WHERE created_at < now() - interval '399 days'"
        ).fetchone()
    return int(row[0]) if row else 0


def purge(
    stack: Stack, count: int, cap: float, rate: float = 10.0, seconds: float = 20.0
) -> Figures:
    """Single sends at `rate`/s for `seconds` alone, then for as long as the purge of `count`
    old emails runs; the purge's rate and the sends' latencies."""
    stack.reset(fresh_workers=True)
    stack.set_latency(0)
    alone = paced_sends(stack, rate, seconds)
    alone_waits, alone_late = waits_ms(stack, alone, time.monotonic() + cap)
    inserted_s = insert_old(stack, count)

    env = {**stack.env, "MAILROOM_PURGE_MAX_SECONDS": "86400"}
    outcome: dict[str, float] = {}
    finished = threading.Event()

    def run_purge() -> None:
        began = time.monotonic()
        try:
            done = subprocess.run(
                [str(BIN / "mailroom"), "purge"], cwd=ROOT, env=env, capture_output=True, text=True
            )
        finally:
            finished.set()
        outcome["seconds"] = time.monotonic() - began
        outcome["failed"] = float(done.returncode != 0)
        if done.returncode:
            print(done.stderr, flush=True)

    purger = threading.Thread(target=run_purge, daemon=True)
    began = time.monotonic()
    purger.start()
    # Sends for exactly as long as the purge runs.
    during = paced_sends(stack, rate, 86400.0, stop=finished)
    purger.join()
    waits, late = waits_ms(stack, during, time.monotonic() + cap)
    if outcome.get("failed"):
        raise RuntimeError("mailroom purge failed")
    left = old_left(stack)
    figures = {
        "emails_purged": float(count - left),
        "purge_s": outcome["seconds"],
        "purge_emails_per_s": (count - left) / outcome["seconds"],
        "insert_s": inserted_s,
        "no_purge_p50_ms": median(alone_waits),
        "no_purge_p90_ms": percentile(alone_waits, 0.9),
        "p50_ms": median(waits),
        "p90_ms": percentile(waits, 0.9),
        "p99_ms": percentile(waits, 0.99),
        "p50_vs_no_purge": median(waits) / median(alone_waits),
        "p90_vs_no_purge": percentile(waits, 0.9) / percentile(alone_waits, 0.9),
        "singles": float(len(during)),
        "singles_late": float(late + alone_late),
        "window_s": time.monotonic() - began,
    }
    stack.reset(fresh_workers=True)
    return figures
