"""Time of a CSV import into a recipient list through the API (in process, Werkzeug's client).

``python bench/list_import_bench.py [rows] [database-url]``: the database is migrated first (a
temporary SQLite file when no URL is given). Imports the file twice, into an empty list and then
over it (every row an update), and prints the times and the process's peak memory.
"""

from __future__ import annotations

import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("MAILROOM_VAR_DIR", tempfile.mkdtemp(prefix="mailroom-bench-"))
os.environ["MAILROOM_ENV_FILE"] = "/dev/null"

from api import create_app  # noqa: E402  (import after the environment above)
from api.keys import create_key  # noqa: E402
from mailroom.migrate import upgrade  # noqa: E402
from models.db import make_engine, make_session_factory  # noqa: E402


def make_csv(rows: int) -> bytes:
    """A spreadsheet export: a BOM, quoted fields with commas, 1% duplicates, 0.1% bad rows."""
    out = io.StringIO()
    out.write("\ufeffemail,name,company,plan,city\r\n")
    for i in range(rows):
        if i % 1000 == 999:
            out.write(f"broken-{i},Nobody,X,free,Y\r\n")
        elif i % 100 == 50:
            out.write(f'User{i - 1}@Example{(i - 1) % 97}.com,Again {i},"Acme, Inc.",pro,Lyon\r\n')
        else:
            out.write(f'user{i}@example{i % 97}.com,Person {i},"Acme, Inc.",free,Paris\r\n')
    return out.getvalue().encode("utf-8")


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "RATE_LIMIT": ""})
    with make_session_factory(make_engine(url))() as session:
        _, key = create_key(session, "bench", ["send", "read"])
        session.commit()
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    data = make_csv(rows)
    list_id = client.post("/lists", json={"name": "bench"}, headers=auth).get_json()["data"][
        "listId"
    ]
    print(f"{rows} rows, {len(data) / 1e6:.1f} MB, {url.split(':')[0]}; rss {max_rss_mb():.0f} MB")
    for label in ("into an empty list", "over the same list"):
        started, cpu = time.perf_counter(), time.process_time()
        response = client.post(
            f"/lists/{list_id}/import",
            data={"file": (io.BytesIO(data), "members.csv")},
            content_type="multipart/form-data",
            headers=auth,
        )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        answer = response.get_json()["data"]
        counts = {k: v for k, v in answer.items() if k != "errors"}
        print(f"  {label}: {elapsed:.2f} s ({cpu:.2f} s CPU here)  {counts}")
    print(f"peak rss {max_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
