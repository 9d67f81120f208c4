"""Server time of the console's email list on a large PostgreSQL table.

``python bench/console_list.py [emails] [database-url]``: migrates the database, fills it with
`emails` rows (1,000,000 by default; 3 statuses, 4 providers, a recipient and a tag each, over
30 days) with set-based INSERTs, then signs in to the console in process (Werkzeug's client)
and prints the median and worst time of each list page: unfiltered, each filter, a deep page.
The goal is 100 ms per page.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("MAILROOM_VAR_DIR", tempfile.mkdtemp(prefix="mailroom-bench-"))
os.environ["MAILROOM_ENV_FILE"] = "/dev/null"

from sqlalchemy import text  # noqa: E402

from api import create_app  # noqa: E402  (import after the environment above)
from api.keys import create_key  # noqa: E402
from mailroom.migrate import upgrade  # noqa: E402
from models.db import make_engine, make_session_factory  # noqa: E402

FILL = """
INSERT INTO emails (id, status, from_addr, to_addrs, cc_addrs, bcc_addrs, subject, html, text,
  template_id, variables, attachment_keys, headers, brand_styles, message_id, correlation_id,
  provider, send_tries, requeues, created_at, updated_at)
SELECT md5(i::text)::uuid,
  (ARRAY['sent','delivered','failed'])[1 + i % 3],
  'ops@example.com', json_build_array('user' || (i % 50000) || '@example.com'), '[]', '[]',
  'Receipt ' || i, '<p>Thanks</p>', 'Thanks',
  CASE WHEN i % 10 = 0 THEN '00000000-0000-0000-0000-000000000001'::uuid END,
  '{}', '[]', '{}', false, '<' || i || '@bench>', 'req' || (i / 100),
  (ARRAY['ses','sendgrid','smtp','outbox'])[1 + i % 4], 1, 0,
  now() - (i * interval '30 days' / :n), now()
FROM generate_series(1, :n) AS i
"""
RECIPIENTS = """
INSERT INTO email_recipients (email_id, address, kind)
SELECT md5(i::text)::uuid, 'user' || (i % 50000) || '@example.com', 'to'
FROM generate_series(1, :n) AS i
"""
TAGS = """
INSERT INTO email_tags (email_id, tag, position)
SELECT md5(i::text)::uuid, (ARRAY['receipt','reset','welcome'])[1 + i % 3], 0
FROM generate_series(1, :n) AS i
"""
PAGES = {
    "newest first": "/console/emails",
    "status=failed": "/console/emails?status=failed",
    "provider=ses": "/console/emails?provider=ses",
    "recipient": "/console/emails?to=user42@example.com",
    "tag=reset": "/console/emails?tag=reset",
    "template": "/console/emails?template=00000000-0000-0000-0000-000000000001",
    "batch request": "/console/emails?request=req4242",
    "last hour": "/console/emails?after={hour}",
}


def fill(url: str, n: int) -> None:
    """`n` emails with a recipient and a tag each, then fresh planner statistics; nothing when
    the database holds them already (a second run times the pages only)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        if conn.execute(text("SELECT count(*) FROM emails")).scalar_one() >= n:
            return
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement in (FILL, RECIPIENTS, TAGS):
            conn.execute(text(statement), {"n": n})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    print(f"filled {n} emails in {time.perf_counter() - started:.0f} s")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    url = sys.argv[2] if len(sys.argv) > 2 else "postgresql+psycopg://postgres@127.0.0.1/bench"
    upgrade(url)
    fill(url, n)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "RATE_LIMIT": ""})
    with make_session_factory(make_engine(url))() as session:
        _, key = create_key(session, "bench", ["read"])
        session.commit()
    client = app.test_client()
    form = client.get("/console/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    client.post("/console/sign-in", data={"api_key": key, "csrf_token": token.group(1)})
    hour = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - 3600))
    pages = {**PAGES, "last hour": PAGES["last hour"].format(hour=hour)}
    cursor = re.search(r"cursor=([^&\"]+)", client.get("/console/emails").text)
    assert cursor is not None
    pages["second page"] = f"/console/emails?cursor={cursor.group(1)}"
    for name, path in pages.items():
        times = []
        for _ in range(7):
            started = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, (path, answer.status_code)
        print(f"{name:>14}: median {statistics.median(times):6.1f} ms, worst {max(times):6.1f} ms")


if __name__ == "__main__":
    main()
