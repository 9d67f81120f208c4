"""Recipient lists through the API: members from JSON and CSV, paging, limits and scopes."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from api import create_app
from api.addresses import AddressError, bare_address, format_address
from api.list_rows import member_email
from models import Suppression
from models.db import make_engine, make_session_factory
from tasks.list_imports import Progress, claim, run_import
from tests.conftest import Keys


class Lists:
    """The test client with a `send` and `read` key."""

    def __init__(self, client: FlaskClient, keys: Keys) -> None:
        self.client = client
        self.auth = keys.header("send", "read")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = self.client.open(path, method=method, json=body, headers=self.auth)
        return response.status_code, response.get_json()

    def create(self, name: str = "customers") -> str:
        status, answer = self.call("POST", "/lists", {"name": name})
        assert status == 201, answer
        return str(answer["data"]["listId"])

    def upload(self, list_id: str, csv: bytes | str) -> tuple[int, Any]:
        """POST the CSV to be imported in the background; once accepted, run its import as a
        worker does and GET the outcome."""
        data = csv.encode() if isinstance(csv, str) else csv
        response = self.client.post(
            f"/lists/{list_id}/import",
            data={"file": (io.BytesIO(data), "members.csv")},
            content_type="multipart/form-data",
            headers={**self.auth, "Prefer": "respond-async"},
        )
        if response.status_code != 202:
            return response.status_code, response.get_json()
        return self.finish(list_id, response.get_json()["data"]["importId"])

    def finish(
        self, list_id: str, import_id: str, on_progress: Progress | None = None
    ) -> tuple[int, Any]:
        """Run the import (the worker's `run_import`, called directly), then GET it."""
        sessions = make_session_factory(make_engine(self.client.application.config["DATABASE_URL"]))
        with sessions() as session:
            job = claim(session, uuid.UUID(import_id))
            assert job is not None
            run_import(session, job, on_progress)
        return self.call("GET", f"/lists/{list_id}/imports/{import_id}")

    def members(self, list_id: str, **query: Any) -> dict[str, Any]:
        args = "&".join(f"{k}={v}" for k, v in query.items())
        status, answer = self.call("GET", f"/lists/{list_id}/members?{args}")
        assert status == 200, answer
        data: dict[str, Any] = answer["data"]
        return data


@pytest.fixture
def lists(client: FlaskClient, keys: Keys) -> Lists:
    return Lists(client, keys)


def suppress(session: Session, *addresses: str) -> None:
    for address in addresses:
        session.add(Suppression(address=address, reason="hard_bounce", source="api"))
    session.commit()


def by_email(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["email"]: item for item in items}


def test_create_and_read_an_empty_list(lists: Lists) -> None:
    status, answer = lists.call("POST", "/lists", {"name": "customers"})
    assert status == 201 and answer["status"] == "success"
    data = answer["data"]
    assert data["name"] == "customers" and data["memberCount"] == 0 and data["createdAt"]
    status, got = lists.call("GET", f"/lists/{data['listId']}")
    assert status == 200
    assert got["data"]["memberCount"] == 0
    assert got["data"]["members"] == {"items": [], "nextCursor": None}


def test_unknown_list_is_404(lists: Lists) -> None:
    missing = "6f1d6c1e-8a47-4c0b-9d55-7cf4fbf3c0aa"
    for method, path, body in [
        ("GET", f"/lists/{missing}", None),
        ("GET", f"/lists/{missing}/members", None),
        ("POST", f"/lists/{missing}/members", {"members": [{"email": "a@example.com"}]}),
    ]:
        status, answer = lists.call(method, path, body)
        assert status == 404, (path, answer)
        assert answer["error"] == f"List `{missing}` not found"


def test_add_members_merges_duplicates_flags_suppressed_and_upserts(
    lists: Lists, db_session: Session
) -> None:
    suppress(db_session, "bounced@example.com")
    lid = lists.create()
    body = {
        "members": [
            {"email": "Ann@Example.com", "name": "Ann", "variables": {"plan": "free"}},
            {"email": "bob@example.org"},
            {"email": "ann@example.com", "name": "Ann B", "variables": {"plan": "pro"}},
            {"email": "Bounced <BOUNCED@example.com>"},
        ]
    }
    status, answer = lists.call("POST", f"/lists/{lid}/members", body)
    assert status == 200, answer
    assert answer["data"] == {
        "added": 3,
        "updated": 0,
        "duplicates": 1,
        "suppressed": 1,
        "memberCount": 3,
    }
    members = by_email(lists.members(lid)["items"])
    assert list(members) == ["ann@example.com", "bob@example.org", "bounced@example.com"]
    assert members["ann@example.com"]["name"] == "Ann B"
    assert members["ann@example.com"]["variables"] == {"plan": "pro"}
    assert (
        members["bob@example.org"]["variables"] == {}
        and not members["bob@example.org"]["suppressed"]
    )
    assert members["bounced@example.com"]["suppressed"] is True

    status, answer = lists.call(
        "POST",
        f"/lists/{lid}/members",
        {
            "members": [
                {"email": "ann@example.com", "variables": {"plan": "team"}},
                {"email": "cy@example.net"},
            ]
        },
    )
    assert status == 200
    assert answer["data"] == {
        "added": 1,
        "updated": 1,
        "duplicates": 0,
        "suppressed": 0,
        "memberCount": 4,
    }
    members = by_email(lists.members(lid)["items"])
    # An upsert replaces the member: the later request's name (none) and variables.
    assert members["ann@example.com"]["variables"] == {"plan": "team"}
    assert members["ann@example.com"]["name"] is None
    status, got = lists.call("GET", f"/lists/{lid}")
    assert got["data"]["memberCount"] == 4 and len(got["data"]["members"]["items"]) == 4


def test_a_bad_address_is_named_by_its_index_and_nothing_is_stored(lists: Lists) -> None:
    lid = lists.create()
    body = {"members": [{"email": f"user{i}@example.com"} for i in range(3)] + [{"email": "nope@"}]}
    status, answer = lists.call("POST", f"/lists/{lid}/members", body)
    assert status == 400
    assert answer["message"] == "invalid request"
    assert answer["error"] == "`members.3`: `nope@` is not a valid email address"
    assert lists.members(lid)["items"] == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"members": []}, "`members`: Length must be between 1 and 1000."),
        ({"members": [{"name": "x"}]}, "`members.0.email`: Missing data for required field."),
        (
            {"members": [{"email": "a@example.com", "extra": 1}]},
            "`members.0.extra`: Unknown field.",
        ),
    ],
)
def test_member_body_is_checked(lists: Lists, body: dict[str, Any], error: str) -> None:
    lid = lists.create()
    status, answer = lists.call("POST", f"/lists/{lid}/members", body)
    assert status == 400 and answer["error"] == error


def test_at_most_a_thousand_members_per_request(lists: Lists) -> None:
    lid = lists.create()
    body = {"members": [{"email": f"u{i}@example.com"} for i in range(1001)]}
    status, answer = lists.call("POST", f"/lists/{lid}/members", body)
    assert status == 400 and "between 1 and 1000" in answer["error"]
    status, answer = lists.call(
        "POST", f"/lists/{lid}/members", {"members": body["members"][:1000]}
    )
    assert status == 200 and answer["data"]["memberCount"] == 1000


def test_members_are_paged_by_email_with_an_opaque_cursor(lists: Lists) -> None:
    lid = lists.create()
    emails = [f"user{i:02d}@example.com" for i in range(25)]
    lists.call(
        "POST", f"/lists/{lid}/members", {"members": [{"email": e} for e in reversed(emails)]}
    )
    seen: list[str] = []
    cursor = None
    while True:
        page = lists.members(lid, limit=10, **({"cursor": cursor} if cursor else {}))
        seen += [m["email"] for m in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
        assert "@" not in cursor
    assert seen == emails
    status, got = lists.call("GET", f"/lists/{lid}?limit=5")
    assert [m["email"] for m in got["data"]["members"]["items"]] == emails[:5]
    assert got["data"]["members"]["nextCursor"]
    status, answer = lists.call("GET", f"/lists/{lid}/members?cursor=%%%")
    assert status == 400 and answer["error"] == "`cursor` is not a cursor this API gave out"


CSV = (
    "\ufeffEmail,Name,Company,Note\r\n"  # a BOM, and the header in another case
    'ann@example.com,Ann,"Acme, Inc.","line one\r\nline two"\r\n'  # line 2-3
    "not-an-address,Bad,X,Y\r\n"  # line 4
    "bob@example.org,Bob,Initech\r\n"  # line 5: a field short
    "BOUNCED@example.com,,Globex,\r\n"  # line 6
    "\r\n"  # line 7: blank, ignored
    'ann@example.com,Ann Again,"Acme, Inc.",second\r\n'  # line 8: duplicate of line 2
    "carol@example.net,Carol,Hooli,\r\n"  # line 9
)


SUMMARY = {
    "state",
    "failure",
    "rowsDone",
    "imported",
    "updated",
    "duplicates",
    "suppressed",
    "skipped",
    "errors",
    "memberCount",
}


def test_csv_import(lists: Lists, db_session: Session) -> None:
    suppress(db_session, "bounced@example.com")
    lid = lists.create()
    status, answer = lists.upload(lid, CSV.encode("utf-8"))
    assert status == 200, answer
    assert answer["message"] == "Import done"
    done = answer["data"]
    assert done["totalBytes"] == done["bytesDone"] == len(CSV.encode("utf-8"))
    assert done["createdAt"] and done["finishedAt"] and done["listId"] == lid
    assert {k: v for k, v in done.items() if k in SUMMARY} == {
        "state": "done",
        "failure": None,
        "rowsDone": 6,  # rows read, the blank line aside
        "imported": 3,
        "updated": 0,
        "duplicates": 1,
        "suppressed": 1,
        "skipped": 2,
        "errors": [
            {"line": 4, "error": "`not-an-address` is not a valid email address"},
            {"line": 5, "error": "expected 4 fields, found 3"},
        ],
        "memberCount": 3,
    }
    members = by_email(lists.members(lid)["items"])
    assert list(members) == ["ann@example.com", "bounced@example.com", "carol@example.net"]
    ann = members["ann@example.com"]
    assert ann["name"] == "Ann Again"  # the last occurrence wins
    assert ann["variables"] == {"Name": "Ann Again", "Company": "Acme, Inc.", "Note": "second"}
    assert members["bounced@example.com"]["suppressed"] is True
    assert members["bounced@example.com"]["name"] is None

    # Again, as a raw text/csv body: every member is now an update.
    response = lists.client.post(
        f"/lists/{lid}/import",
        data='email,note\nann@example.com,"quoted\nnewline, comma"\ndave@example.com,x\n',
        content_type="text/csv",
        headers={**lists.auth, "Prefer": "respond-async"},
    )
    assert response.status_code == 202, response.get_json()
    status, answer = lists.finish(lid, response.get_json()["data"]["importId"])
    data = answer["data"]
    assert (data["imported"], data["updated"], data["errors"], data["memberCount"]) == (1, 1, [], 4)
    members = by_email(lists.members(lid)["items"])
    assert members["ann@example.com"]["variables"] == {"note": "quoted\nnewline, comma"}


def test_lines_may_end_with_a_lone_carriage_return(lists: Lists) -> None:
    lid = lists.create()
    status, answer = lists.upload(lid, 'email,n\ra@example.com,1\rbad,2\rb@example.com,"x\ry"\r')
    assert status == 200, answer
    assert answer["data"]["errors"] == [{"line": 3, "error": "`bad` is not a valid email address"}]
    members = by_email(lists.members(lid)["items"])
    assert members["b@example.com"]["variables"] == {"n": "x\ry"}


def test_csv_duplicates_across_batches_are_merged(lists: Lists) -> None:
    lid = lists.create()
    rows = [f"u{i}@example.com,{i}" for i in range(1500)] + ["u3@example.com,last"]
    status, answer = lists.upload(lid, "email,n\n" + "\n".join(rows) + "\n")
    assert status == 200
    data = answer["data"]
    assert (data["imported"], data["updated"], data["duplicates"], data["memberCount"]) == (
        1500,
        0,
        1,
        1500,
    )
    page = lists.members(lid, limit=1000)
    assert by_email(page["items"])["u3@example.com"]["variables"] == {"n": "last"}


@pytest.mark.parametrize(
    ("csv", "error"),
    [
        ("name,address\nAnn,ann@example.com\n", "the CSV has no `email` column"),
        ("", "the CSV is empty"),
        ("email,EMAIL\na@example.com,b@example.com\n", "the CSV has two columns named `email`"),
        (b"email\na@example.com\n\xff\xfe@example.com\n", "line 3 of the CSV is not UTF-8 text"),
    ],
)
def test_unreadable_csv_is_400_and_stores_nothing(
    lists: Lists, csv: str | bytes, error: str
) -> None:
    lid = lists.create()
    status, answer = lists.upload(lid, csv)
    assert status == 400, answer
    assert answer == {"status": "error", "message": "invalid request", "error": error}
    assert lists.members(lid)["items"] == []


def test_upload_needs_a_file(lists: Lists) -> None:
    lid = lists.create()
    response = lists.client.post(
        f"/lists/{lid}/import",
        data={"other": "x"},
        content_type="multipart/form-data",
        headers=lists.auth,
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "the upload has no `file` field"
    status, answer = lists.call("POST", f"/lists/{lid}/import", {"email": "a@example.com"})
    assert status == 400
    assert answer["error"] == "send the CSV as multipart/form-data (field `file`) or as text/csv"


def test_a_body_over_max_content_length_is_413(sqlite_url: str, storage_root: Any) -> None:
    app: Flask = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": sqlite_url,
            "STORAGE_LOCAL_ROOT": storage_root,
            "MAX_CONTENT_LENGTH": 2000,
        }
    )
    lists = Lists(app.test_client(), Keys(app))
    lid = lists.create()
    big = "email\n" + "".join(f"user{i}@example.com\n" for i in range(200))
    status, answer = lists.upload(lid, big)
    assert status == 413
    assert answer == {
        "status": "error",
        "message": "payload too large",
        "error": "the request body is larger than 2000 bytes",
    }
    response = lists.client.post(
        f"/lists/{lid}/import", data=big, content_type="text/csv", headers=lists.auth
    )
    assert response.status_code == 413
    assert response.get_json()["message"] == "payload too large"
    assert lists.members(lid)["items"] == []


def test_scopes(lists: Lists, keys: Keys) -> None:
    lid = lists.create()
    read_only = keys.header("read")
    send_only = keys.header("send")
    client = lists.client
    assert client.post("/lists", json={"name": "x"}, headers=read_only).status_code == 403
    assert (
        client.post(f"/lists/{lid}/members", json={"members": []}, headers=read_only).status_code
        == 403
    )
    response = client.post(
        f"/lists/{lid}/import", data="email\n", content_type="text/csv", headers=read_only
    )
    assert response.status_code == 403
    assert response.get_json()["error"] == "this API key lacks the `send` scope"
    assert client.get(f"/lists/{lid}", headers=send_only).status_code == 403
    assert client.get(f"/lists/{lid}/members", headers=send_only).status_code == 403
    assert client.get(f"/lists/{lid}", headers=read_only).status_code == 200
    assert client.get(f"/lists/{lid}").status_code == 401


def test_delete_removes_the_list_and_its_members(lists: Lists) -> None:
    lid = lists.create()
    lists.call("POST", f"/lists/{lid}/members", {"members": [{"email": "a@example.com"}]})
    status, answer = lists.call("DELETE", f"/lists/{lid}")
    assert status == 200 and answer["data"]["memberCount"] == 1
    assert lists.call("GET", f"/lists/{lid}")[0] == 404


@pytest.mark.parametrize(
    "raw",
    [
        "ann@example.com",
        "Ann.Lee+tag@Example.COM",
        "o'brien@example.ie",
        "ann@bücher.example",
        "ann@example",
        "ann@localhost",
        "ann@invalid",
        "a..b@example.com",
        ".a@example.com",
        "a@-example.com",
        "a@example..com",
        "a@example.123",
        "a@[127.0.0.1]",
        '"quoted"@example.com',
        "josé@example.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 64 + ".com",
        "a@" + ".".join(["b" * 60] * 5) + ".com",
        "Ann <ann@example.com>",
        " ann@example.com ",
        "a@b@example.com",
        "@example.com",
        "ann@",
        "postmaster@example.com",
    ],
)
def test_member_email_agrees_with_format_address(raw: str) -> None:
    try:
        expected: str | None = bare_address(format_address(raw))
    except AddressError:
        expected = None
    try:
        got: str | None = member_email(raw)
    except AddressError:
        got = None
    assert got == expected


def test_import_answers_202_and_shows_its_progress(lists: Lists, keys: Keys) -> None:
    lid = lists.create()
    rows = "".join(f"u{i}@example.com\n" for i in range(2500))
    response = lists.client.post(
        f"/lists/{lid}/import",
        data="email\n" + rows,
        content_type="text/csv",
        headers={**lists.auth, "Prefer": "respond-async"},
    )
    assert response.status_code == 202, response.get_json()
    accepted = response.get_json()
    assert accepted["message"] == "Import queued"
    import_id = accepted["data"]["importId"]
    assert accepted["data"]["state"] == "pending"
    assert (accepted["data"]["rowsDone"], accepted["data"]["memberCount"]) == (0, 0)
    status, pending = lists.call("GET", f"/lists/{lid}/imports/{import_id}")
    assert (status, pending["data"]["state"]) == (200, "pending")

    seen: list[tuple[str, int, int]] = []

    def look(_: Any) -> None:
        # What a client polling the API sees after each committed batch.
        got = lists.call("GET", f"/lists/{lid}/imports/{import_id}")[1]["data"]
        seen.append((got["state"], got["rowsDone"], got["imported"]))

    status, done = lists.finish(lid, import_id, look)
    assert seen == [("running", 1000, 1000), ("running", 2000, 2000), ("done", 2500, 2500)]
    assert done["data"]["memberCount"] == 2500
    # Finished imports are not run again.
    sessions = make_session_factory(make_engine(lists.client.application.config["DATABASE_URL"]))
    with sessions() as session:
        assert claim(session, uuid.UUID(import_id)) is None

    other = lists.create("other")
    assert lists.call("GET", f"/lists/{other}/imports/{import_id}")[0] == 404
    status, missing = lists.call("GET", f"/lists/{lid}/imports/{uuid.uuid4()}")
    assert status == 404 and missing["error"].startswith("Import `")
    send_only = keys.header("send")
    response = lists.client.get(f"/lists/{lid}/imports/{import_id}", headers=send_only)
    assert response.status_code == 403


def test_a_small_import_is_done_in_the_request(lists: Lists) -> None:
    """Up to 1 MiB without `Prefer: respond-async`: 200 with the counts, every member there."""
    lid = lists.create()
    csv = "email,name,plan\na@example.com,Ann,pro\nb@example.com,Bob,\nnot-an-address,X,\n"
    response = lists.client.post(
        f"/lists/{lid}/import", data=csv, content_type="text/csv", headers=lists.auth
    )
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["message"] == "2 members imported"
    data = answer["data"]
    assert (data["imported"], data["updated"], data["skipped"], data["memberCount"]) == (2, 0, 1, 2)
    assert data["errors"][0]["line"] == 4
    members = lists.members(lid)["items"]
    assert [(m["email"], m["variables"]) for m in members] == [
        ("a@example.com", {"name": "Ann", "plan": "pro"}),
        ("b@example.com", {"name": "Bob", "plan": ""}),
    ]


def test_a_large_import_goes_to_the_background(lists: Lists) -> None:
    """Over 1 MiB: stored and queued (202), whatever the client prefers."""
    lid = lists.create()
    rows = "".join(f"someone.with.a.long.name.{i:06d}@example.com\n" for i in range(26000))
    assert len(rows) > 1024 * 1024
    response = lists.client.post(
        f"/lists/{lid}/import", data="email\n" + rows, content_type="text/csv", headers=lists.auth
    )
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["data"]["state"] == "pending"


def test_a_member_name_follows_the_header_text_rule(lists: Lists) -> None:
    """A member's name is the display name of its `To:` in a list send (api/header_text.py)."""
    lid = lists.create()
    body = {
        "members": [
            {"email": "ann@example.com", "name": "Ann"},
            {"email": "bob@example.com", "name": "Bob\u2028Bcc: x@example.com"},
        ]
    }
    status, answer = lists.call("POST", f"/lists/{lid}/members", body)
    assert status == 400
    assert answer["error"] == "`members.1.name` must not contain line breaks"
    assert lists.members(lid)["items"] == []

    status, answer = lists.upload(
        lid, "email,name\nann@example.com,Ann\nbob@example.com,Bob\x07\ncarol@example.com,\n"
    )
    assert status == 200, answer
    assert answer["data"]["errors"] == [
        {"line": 3, "error": "`name` must not contain control characters (U+0007)"}
    ]
    assert [m["email"] for m in lists.members(lid)["items"]] == [
        "ann@example.com",
        "carol@example.com",
    ]
