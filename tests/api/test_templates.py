"""Templates and brands through the API: CRUD, save-time checks, preview, send-time errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Email
from tests.conftest import Keys

WELCOME: dict[str, Any] = {
    "name": "welcome",
    "lang": "en",
    "subject": "Welcome {{ CLIENT_NAME }}",
    "html": "<p>Hello {{ CLIENT_NAME }}</p>{% if PROMO %}<p>{{ PROMO }}</p>{% endif %}",
    "variables": [
        {"name": "CLIENT_NAME", "type": "text", "required": True},
        {"name": "PROMO", "type": "html", "required": False},
    ],
    "translations": {
        "es": {"subject": "Bienvenido {{ CLIENT_NAME }}", "html": "<p>Hola {{ CLIENT_NAME }}</p>"}
    },
}


class Api:
    """The test client with a key of every scope."""

    def __init__(self, client: FlaskClient, keys: Keys) -> None:
        self.client = client
        self.auth = keys.header("templates", "send")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = self.client.open(path, method=method, json=body, headers=self.auth)
        return response.status_code, response.get_json()

    def create(self, body: dict[str, Any]) -> str:
        status, answer = self.call("POST", "/templates", body)
        assert status == 201, answer
        return str(answer["data"]["templateId"])

    def send(self, body: dict[str, Any]) -> tuple[int, Any]:
        return self.call("POST", "/send", {"from": "a@example.com", "to": "b@example.com", **body})


@pytest.fixture
def api(client: FlaskClient, keys: Keys) -> Api:
    return Api(client, keys)


def count_emails(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Email)) or 0)


def test_crud_round_trip_and_versions(api: Api) -> None:
    tid = api.create(WELCOME)
    status, got = api.call("GET", f"/templates/{tid}")
    assert status == 200
    data = got["data"]
    assert data["version"] == 1 and data["name"] == "welcome" and data["lang"] == "en"
    assert data["variables"][0] == {
        "name": "CLIENT_NAME",
        "type": "text",
        "required": True,
        "default": None,
    }
    assert data["translations"]["es"]["subject"] == "Bienvenido {{ CLIENT_NAME }}"

    status, put = api.call("PUT", f"/templates/{tid}", {**WELCOME, "name": "welcome v2"})
    assert status == 200 and put["data"]["version"] == 2 and put["data"]["name"] == "welcome v2"

    second = api.create({**WELCOME, "name": "other"})
    status, listing = api.call("GET", "/templates?limit=1")
    assert [t["templateId"] for t in listing["data"]["items"]] == [second]
    cursor = listing["data"]["nextCursor"]
    status, rest = api.call("GET", f"/templates?limit=1&cursor={cursor}")
    assert [t["templateId"] for t in rest["data"]["items"]] == [tid]
    assert rest["data"]["nextCursor"] is None

    status, _ = api.call("DELETE", f"/templates/{tid}")
    assert status == 200
    status, gone = api.call("GET", f"/templates/{tid}")
    assert status == 404 and gone["error"] == f"Template `{tid}` not found"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"html": "<p>\n{{ FOO }}</p>"},
            "Variable `FOO` is used in html at line 2 but not declared",
        ),
        (
            {"subject": "Hi {% if %}"},
            "Syntax error in template subject at line 1: Expected an "
            "expression, got 'end of statement block'",
        ),
        (
            {"translations": {"es": {"subject": "x", "html": "<p>\n\n{{ NOPE }}</p>"}}},
            "Variable `NOPE` is used in html (es) at line 3 but not declared",
        ),
        ({"variables": [{"name": "A"}, {"name": "A"}]}, "variable `A` is declared twice"),
        (
            {"variables": [{"name": "bad-name"}]},
            "`bad-name` is not a valid variable name",
        ),
        (
            {"variables": [{"name": "A", "type": "number"}]},
            "`variables.0.type`: Must be one of: text, html, draft, template.",
        ),
        (
            {"brandId": "00000000-0000-0000-0000-000000000001"},
            "Brand `00000000-0000-0000-0000-000000000001` not found",
        ),
        ({"attachments": ["files/terms.pdf"]}, "attachment `files/terms.pdf` not found"),
    ],
)
def test_bad_templates_are_refused_with_the_line(
    api: Api, change: dict[str, Any], error: str
) -> None:
    status, answer = api.call("POST", "/templates", {**WELCOME, **change})
    assert status == 400, answer
    assert answer["error"] == error
    status, listing = api.call("GET", "/templates")
    assert listing["data"]["items"] == []


def test_preview_with_translation_fallback_and_brand(api: Api, db_session: Session) -> None:
    status, brand = api.call(
        "POST",
        "/brands",
        {
            "name": "Acme",
            "header": "<div class='top'>ACME</div>",
            "footer": "<p class='legal'>Acme Inc.</p>",
            "css": ".top { color: #ff0000 } p { margin: 0 }",
            "logoUrl": "https://example.com/logo.png",
        },
    )
    assert status == 201
    tid = api.create({**WELCOME, "brandId": brand["data"]["brandId"], "brandStyles": True})

    status, es = api.call(
        "POST", f"/templates/{tid}/preview", {"variables": {"CLIENT_NAME": "Ana"}, "lang": "es"}
    )
    assert status == 200
    assert es["data"]["subject"] == "Bienvenido Ana"
    html = es["data"]["html"]
    assert '<div class="top" style="color: #ff0000;">ACME</div>' in html
    assert '<p style="margin: 0;">Hola Ana</p>' in html
    assert '<p class="legal" style="margin: 0;">Acme Inc.</p>' in html
    assert "<style" not in html
    assert es["data"]["text"].split() == ["ACME", "Hola", "Ana", "Acme", "Inc."]

    status, fallback = api.call(
        "POST",
        f"/templates/{tid}/preview",
        {
            "variables": {"CLIENT_NAME": "Jo"},
            "lang": "fr",
            "brandStyles": False,
            "customStyle": "p { color: blue }",
        },
    )
    assert fallback["data"]["subject"] == "Welcome Jo"
    assert fallback["data"]["html"] == '<p style="color: blue;">Hello Jo</p>'
    assert count_emails(db_session) == 0  # a preview sends nothing


def test_send_errors_use_the_contract_texts(api: Api, db_session: Session) -> None:
    tid = api.create(WELCOME)
    item = api.create(
        {"name": "item", "subject": "i", "html": "<li>{{ N }}</li>", "variables": [{"name": "N"}]}
    )
    deep = api.create(
        {
            "name": "deep",
            "subject": "d",
            "html": "<div>{{ INNER }}</div>",
            "variables": [{"name": "INNER", "type": "template"}],
        }
    )
    cases = [
        ({"CLIENT_NAME": "x", "FAKE_VAR": 1}, f"Variable `FAKE_VAR` not found in template `{tid}`"),
        ({}, f"Variable `CLIENT_NAME` is required by template `{tid}`"),
    ]
    for variables, error in cases:
        status, answer = api.send({"templateId": tid, "variables": variables})
        assert (status, answer["error"]) == (400, error)

    missing = "5b0f3f1e-1111-4222-8333-444455556666"
    status, answer = api.send({"templateId": missing})
    assert (status, answer["error"]) == (400, f"Template `{missing}` not found")

    nested_missing = {"templateId": missing, "variables": {}}
    status, answer = api.send(
        {"subject": "s", "html": "<ul>{{ X }}</ul>", "variables": {"X": nested_missing}}
    )
    assert (status, answer["error"]) == (400, f"Template `{missing}` not found")

    status, answer = api.send(
        {
            "templateId": tid,
            "variables": {"CLIENT_NAME": "x", "PROMO": {"format": "draft", "content": {"x": 1}}},
        }
    )
    assert status == 400 and "PROMO" in answer["error"]

    two_levels = {
        "templateId": deep,
        "variables": {"INNER": {"templateId": item, "variables": {"N": "1"}}},
    }
    status, answer = api.send({"subject": "s", "html": "{{ X }}", "variables": {"X": two_levels}})
    assert status == 400 and "templates nest one level only" in answer["error"], answer
    assert count_emails(db_session) == 0


@pytest.mark.parametrize(
    "html",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__['os'] }}",
    ],
)
def test_sandbox_refuses_python_internals(api: Api, html: str) -> None:
    status, answer = api.send({"subject": "s", "html": html})
    assert status == 400, answer
    assert "__" not in answer["error"] or "unsafe" in answer["error"].lower()


def test_values_are_data_never_templates(api: Api) -> None:
    tid = api.create(WELCOME)
    status, answer = api.send(
        {
            "templateId": tid,
            "variables": {
                "CLIENT_NAME": "{{ 7*7 }} <b>bold</b>",
                "PROMO": {
                    "format": "html",
                    "content": "<b onclick='x()'>50%</b><script>alert(1)</script>"
                    "<a href='javascript:alert(1)'>go</a>",
                },
            },
        }
    )
    assert status == 200, answer
    body = answer["data"]["body"]
    assert "{{ 7*7 }} &lt;b&gt;bold&lt;/b&gt;" in body
    assert "<b>50%</b>" in body
    assert "script" not in body and "onclick" not in body and "javascript:" not in body


def test_template_attachments_come_first(api: Api, storage_root: Path) -> None:
    (storage_root / "files").mkdir()
    (storage_root / "files" / "terms.pdf").write_bytes(b"%PDF terms")
    (storage_root / "files" / "extra.txt").write_bytes(b"extra")
    tid = api.create({**WELCOME, "attachments": ["files/terms.pdf"]})
    status, answer = api.send(
        {
            "templateId": tid,
            "variables": {"CLIENT_NAME": "x"},
            "attachments": ["files/extra.txt", "files/terms.pdf"],
        }
    )
    assert status == 200, answer
    assert answer["data"]["attachments"] == ["files/terms.pdf", "files/extra.txt"]
    assert answer["data"]["templateId"] == tid


def test_scopes(client: FlaskClient, keys: Keys) -> None:
    send_only = keys.header("send")
    assert client.get("/templates", headers=send_only).status_code == 403
    assert client.post("/brands", json={"name": "x"}, headers=send_only).status_code == 403
    assert client.get("/templates").status_code == 401
