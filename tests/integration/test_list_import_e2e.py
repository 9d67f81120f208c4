"""A CSV import for real: the API stores it and answers 202, a worker imports it in batches,
and the import's progress is visible through the API until it is done."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from models import ListImport
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.rabbitmq]


def post_csv(stack: Stack, path: str, body: bytes) -> tuple[int, Any]:
    req = urllib.request.Request(
        stack.api_url + path,
        data=body,
        method="POST",
        headers={
            "Content-Type": "text/csv",
            "Authorization": f"Bearer {stack.api_key}",
            "Prefer": "respond-async",
        },
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


def test_import_runs_in_a_worker(stack: Stack) -> None:
    stack.env["MAILROOM_RATE_LIMIT"] = ""
    stack.migrate_and_key()
    stack.start_api()
    stack.start_worker(concurrency=1)
    status, created = stack.request("POST", "/lists", {"name": "imported"})
    assert status == 201, created
    list_id = created["data"]["listId"]
    rows = "".join(f"user{i}@example.com,U{i}\n" for i in range(3500)) + "broken,x\n"

    status, accepted = post_csv(stack, f"/lists/{list_id}/import", f"email,name\n{rows}".encode())

    assert status == 202, accepted
    import_id = accepted["data"]["importId"]
    seen = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status, answer = stack.request("GET", f"/lists/{list_id}/imports/{import_id}")
        assert status == 200, answer
        data = answer["data"]
        seen.append(data["state"])
        if data["state"] in {"done", "failed"}:
            break
        time.sleep(0.1)
    else:
        raise TimeoutError(f"import not done: {seen[-1:]}\n{stack.dump_logs()}")
    assert data["state"] == "done", (data, stack.dump_logs())
    assert (data["rowsDone"], data["imported"], data["skipped"], data["memberCount"]) == (
        3501,
        3500,
        1,
        3500,
    )
    assert data["errors"] == [{"line": 3502, "error": "`broken` is not a valid email address"}]
    assert data["bytesDone"] == data["totalBytes"]
    engine = create_engine(stack.env["DATABASE_URL"])
    with engine.connect() as conn:  # the upload is not kept once imported
        assert conn.execute(select(ListImport.data)).scalar_one() is None
    engine.dispose()
