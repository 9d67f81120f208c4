"""Brands by id, callback endpoints listed and deleted, `/emails` by template and by date."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from models import Email
from tests.conftest import Keys

NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"


def data(response: Any, status: int = 200) -> Any:
    """The envelope's data of a successful answer."""
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["status"] == "success"
    return body["data"]


# brands ------------------------------------------------------------------------------------


def test_a_brand_is_read_replaced_and_deleted_by_id(client: FlaskClient, keys: Keys) -> None:
    auth = keys.header("templates")
    created = data(
        client.post(
            "/brands",
            json={"name": "Acme", "header": "<b>Acme</b>", "logoUrl": "https://acme.test/l.png"},
            headers=auth,
        ),
        201,
    )
    url = f"/brands/{created['brandId']}"

    found = data(client.get(url, headers=auth))
    assert found == created
    assert found["header"] == "<b>Acme</b>" and found["footer"] == ""

    # PUT replaces the whole brand: what the body leaves out goes back to its default.
    replaced = data(client.put(url, json={"name": "Acme Ltd", "footer": "bye"}, headers=auth))
    assert (replaced["name"], replaced["header"], replaced["footer"]) == ("Acme Ltd", "", "bye")
    assert replaced["logoUrl"] is None
    assert data(client.get(url, headers=auth)) == replaced

    deleted = data(client.delete(url, headers=auth))
    assert deleted["brandId"] == created["brandId"]
    for method in (client.get, client.delete):
        gone = method(url, headers=auth)
        assert gone.status_code == 404
        assert gone.get_json() == {
            "status": "error",
            "message": "not found",
            "error": f"Brand `{created['brandId']}` not found",
        }


def test_deleting_a_brand_unbrands_its_templates(client: FlaskClient, keys: Keys) -> None:
    auth = keys.header("templates")
    brand = data(client.post("/brands", json={"name": "Acme"}, headers=auth), 201)["brandId"]
    template = data(
        client.post(
            "/templates",
            json={"name": "t", "subject": "s", "html": "<p>x</p>", "brandId": brand},
            headers=auth,
        ),
        201,
    )["templateId"]

    data(client.delete(f"/brands/{brand}", headers=auth))

    assert data(client.get(f"/templates/{template}", headers=auth))["brandId"] is None


def test_brands_by_id_need_the_templates_scope(client: FlaskClient, keys: Keys) -> None:
    brand = data(client.post("/brands", json={"name": "A"}, headers=keys.header("templates")), 201)
    url = f"/brands/{brand['brandId']}"
    send_only = keys.header("send")
    assert client.get(url, headers=send_only).status_code == 403
    assert client.put(url, json={"name": "B"}, headers=send_only).status_code == 403
    assert client.delete(url, headers=send_only).status_code == 403
    assert client.get(url).status_code == 401


# callback endpoints ------------------------------------------------------------------------


def test_callback_endpoints_are_listed_without_secrets_and_deleted(
    client: FlaskClient, keys: Keys
) -> None:
    admin = keys.header("admin")
    first = data(
        client.post(
            "/webhooks/endpoints",
            json={"url": "http://hooks.local/a", "events": ["sent", "bounced"]},
            headers=admin,
        ),
        201,
    )
    second = data(
        client.post(
            "/webhooks/endpoints",
            json={"url": "https://hooks.local/b", "secret": "s" * 20},
            headers=admin,
        ),
        201,
    )
    assert first["secret"] and second["secret"] == "s" * 20  # shown once, at creation

    listed = data(client.get("/webhooks/endpoints", headers=admin))["items"]
    assert [(e["endpointId"], e["url"], e["events"], e["active"]) for e in listed] == [
        (first["endpointId"], "http://hooks.local/a", ["sent", "bounced"], True),
        (second["endpointId"], "https://hooks.local/b", [], True),
    ]
    assert all(e["secret"] is None for e in listed)

    removed = data(client.delete(f"/webhooks/endpoints/{first['endpointId']}", headers=admin))
    assert removed["endpointId"] == first["endpointId"]
    listed = data(client.get("/webhooks/endpoints", headers=admin))["items"]
    assert [e["endpointId"] for e in listed] == [second["endpointId"]]
    for path in (f"/webhooks/endpoints/{first['endpointId']}", f"/webhooks/endpoints/{NO_SUCH_ID}"):
        again = client.delete(path, headers=admin)
        assert again.status_code == 404
        assert again.get_json()["error"] == f"Endpoint `{path.rsplit('/', 1)[1]}` not found"
    deliveries = client.get(f"/webhooks/endpoints/{first['endpointId']}/deliveries", headers=admin)
    assert deliveries.status_code == 404


def test_callback_endpoints_need_the_admin_scope(client: FlaskClient, keys: Keys) -> None:
    others = keys.header("send", "read", "templates")
    assert client.get("/webhooks/endpoints", headers=others).status_code == 403
    assert client.delete(f"/webhooks/endpoints/{NO_SUCH_ID}", headers=others).status_code == 403


# /emails filters ---------------------------------------------------------------------------


def send(client: FlaskClient, auth: dict[str, str], **body: Any) -> str:
    body = {"from": "a@example.com", "to": "b@example.com", **body}
    return str(data(client.post("/send", json=body, headers=auth))["emailId"])


def listed(client: FlaskClient, auth: dict[str, str], query: str) -> list[str]:
    return [e["emailId"] for e in data(client.get(f"/emails?{query}", headers=auth))["items"]]


def test_emails_are_filtered_by_template(client: FlaskClient, keys: Keys) -> None:
    auth = keys.header("send", "read", "templates")
    templates = [
        data(
            client.post(
                "/templates", json={"name": f"t{n}", "subject": "s", "html": "<p>x</p>"},
                headers=auth,
            ),
            201,
        )["templateId"]
        for n in range(2)
    ]  # fmt: skip
    first = [send(client, auth, templateId=templates[0]) for _ in range(2)]
    second = send(client, auth, templateId=templates[1])
    inline = send(client, auth, subject="s", text="t")

    assert listed(client, auth, f"templateId={templates[0]}") == first[::-1]  # newest first
    assert listed(client, auth, f"templateId={templates[1]}") == [second]
    assert listed(client, auth, f"templateId={NO_SUCH_ID}") == []
    assert set(listed(client, auth, "")) == {*first, second, inline}
    bad = client.get("/emails?templateId=not-a-uuid", headers=auth)
    assert bad.status_code == 400


def test_emails_are_filtered_by_creation_time(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    auth = keys.header("send", "read")
    noon = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    ids = {hour: send(client, auth, subject=f"at {hour}", text="t") for hour in (-2, -1, 0, 1)}
    for hour, eid in ids.items():  # created at 10:00, 11:00, 12:00 and 13:00 UTC
        at = noon + timedelta(hours=hour)
        db_session.execute(update(Email).where(Email.id == uuid.UUID(eid)).values(created_at=at))
    db_session.commit()

    def between(**bounds: str) -> list[str]:
        query = "&".join(f"{k}={v.replace('+', '%2B')}" for k, v in bounds.items())
        return listed(client, auth, query)

    # createdAfter includes its instant, createdBefore excludes its own.
    assert between(createdAfter=noon.isoformat()) == [ids[1], ids[0]]
    assert between(createdBefore=noon.isoformat()) == [ids[-1], ids[-2]]
    assert between(createdAfter="2026-06-01T11:00:00Z", createdBefore="2026-06-01T13:00:00Z") == [
        ids[0],
        ids[-1],
    ]
    # Another zone names the same instant: 14:00+02:00 is noon UTC.
    assert between(createdAfter="2026-06-01T14:00:00+02:00") == [ids[1], ids[0]]
    assert between(createdAfter="2026-06-02T00:00:00Z") == []
    assert client.get("/emails?createdAfter=yesterday", headers=auth).status_code == 400
