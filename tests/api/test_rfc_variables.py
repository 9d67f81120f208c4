"""The RFC's four example requests on every endpoint that takes variables: `/send`,
`/send/batch` (recipients and lists), `/templates/<id>/preview` and Hasura's `sendEmail`.

The value's format decides how it renders, whatever the template declared; what the workers
deliver is checked in tests/integration/test_rfc_variables_e2e.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Email
from tests.conftest import Keys
from tests.support.rfc_requests import EXAMPLES, templates, undeclared_error


class Api:
    """The test client with a key of every scope the endpoints need."""

    def __init__(self, client: FlaskClient, keys: Keys) -> None:
        self.client = client
        self.auth = keys.header("templates", "send", "read")

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = self.client.open(path, method=method, json=body, headers=self.auth)
        return response.status_code, response.get_json()

    def templates(self, declared: str) -> dict[str, str]:
        """The example templates with VAR_1 declared as ``declared``; their ids by role."""
        ids: dict[str, str] = {}
        for role, body in templates(declared).items():
            status, answer = self.call("POST", "/templates", body)
            assert status == 201, answer
            ids[role] = str(answer["data"]["templateId"])
        return ids

    def list_of_one(self) -> str:
        status, answer = self.call("POST", "/lists", {"name": "rfc"})
        assert status == 201, answer
        list_id = str(answer["data"]["listId"])
        members = {"members": [{"email": "receiver@example.com"}]}
        status, answer = self.call("POST", f"/lists/{list_id}/members", members)
        assert status == 200, answer
        return list_id


def batch_of(request: dict[str, Any]) -> dict[str, Any]:
    """The request as a batch of one recipient, who carries its variables."""
    message = {k: v for k, v in request.items() if k not in ("to", "variables")}
    return {**message, "recipients": [{"to": request["to"], "variables": request["variables"]}]}


def list_send_of(request: dict[str, Any], list_id: str) -> dict[str, Any]:
    """The request sent to a list, its variables shared by every member."""
    return {**{k: v for k, v in request.items() if k != "to"}, "listId": list_id}


def hasura_send(request: dict[str, Any]) -> dict[str, Any]:
    """sendEmail as Hasura posts it."""
    return {
        "action": {"name": "sendEmail"},
        "input": {"input": request},
        "session_variables": {"x-hasura-role": "user"},
    }


def preview_of(request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return f"/templates/{request['templateId']}/preview", {"variables": request["variables"]}


@pytest.fixture
def api(client: FlaskClient, keys: Keys) -> Api:
    return Api(client, keys)


def stored(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Email)) or 0)


@pytest.mark.parametrize("declared", ["text", "draft", "untyped"])
def test_each_example_renders_by_its_values_format_on_every_endpoint(
    api: Api, db_session: Session, declared: str
) -> None:
    ids = api.templates(declared)
    list_id = api.list_of_one()
    for name, (build, _, html) in EXAMPLES.items():
        request = build(ids)
        status, answer = api.call("POST", "/send", request)
        assert (status, answer["data"]["body"]) == (200, html), (name, answer)
        path, preview = preview_of(request)
        status, answer = api.call("POST", path, preview)
        assert (status, answer["data"]["html"]) == (200, html), (name, answer)
        status, answer = api.call("POST", "/hasura/actions", hasura_send(request))
        assert (status, answer["body"]) == (200, html), (name, answer)
        # Batches and lists are rendered by the workers; here they must be accepted.
        status, answer = api.call("POST", "/send/batch", batch_of(request))
        assert (status, answer["data"]["count"]) == (200, 1), (name, answer)
        status, answer = api.call("POST", "/send/batch", list_send_of(request, list_id))
        assert (status, answer["data"]["count"]) == (200, 1), (name, answer)
    assert stored(db_session) == 3 * len(EXAMPLES)  # /send, Hasura, the batch (lists: later)


def test_examples_where_var_1_is_not_declared_are_the_contract_error(
    api: Api, db_session: Session
) -> None:
    ids = api.templates("undeclared")
    list_id = api.list_of_one()
    for name in EXAMPLES:
        request = EXAMPLES[name][0](ids)
        error = undeclared_error(name, ids)
        status, answer = api.call("POST", "/send", request)
        assert (status, answer["error"]) == (400, error), name
        path, preview = preview_of(request)
        status, answer = api.call("POST", path, preview)
        assert (status, answer["error"]) == (400, error), name
        status, answer = api.call("POST", "/hasura/actions", hasura_send(request))
        assert (status, answer["message"]) == (400, error), name
        status, answer = api.call("POST", "/send/batch", batch_of(request))
        assert (status, answer["error"]) == (400, f"`recipients[0]`: {error}"), name
        status, answer = api.call("POST", "/send/batch", list_send_of(request, list_id))
        assert (status, answer["error"]) == (400, error), name
    assert stored(db_session) == 0


BAD_DRAFT = {"VAR_1": {"format": "draft", "content": "<p>not a raw state</p>"}}
BAD_DRAFT_ERROR = (
    "Variable `VAR_1` holds an invalid Draft.js document: content is not the JSON text of a "
    "Draft.js raw state (Expecting value: line 1 column 1 (char 0))"
)


@pytest.mark.parametrize("declared", ["text", "draft", "untyped"])
def test_draft_text_that_is_not_a_raw_state_is_a_400_naming_the_variable(
    api: Api, db_session: Session, declared: str
) -> None:
    ids = api.templates(declared)
    list_id = api.list_of_one()
    request = {**EXAMPLES["standard"][0](ids), "variables": BAD_DRAFT}
    status, answer = api.call("POST", "/send", request)
    assert (status, answer["error"]) == (400, BAD_DRAFT_ERROR)
    path, preview = preview_of(request)
    status, answer = api.call("POST", path, preview)
    assert (status, answer["error"]) == (400, BAD_DRAFT_ERROR)
    status, answer = api.call("POST", "/hasura/actions", hasura_send(request))
    assert (status, answer["message"]) == (400, BAD_DRAFT_ERROR)
    status, answer = api.call("POST", "/send/batch", batch_of(request))
    assert (status, answer["error"]) == (400, f"`recipients[0]`: {BAD_DRAFT_ERROR}")
    status, answer = api.call("POST", "/send/batch", list_send_of(request, list_id))
    assert (status, answer["error"]) == (400, BAD_DRAFT_ERROR)
    assert stored(db_session) == 0


def test_plain_values_take_the_declared_type(api: Api) -> None:
    ids = api.templates("draft")
    request = EXAMPLES["standard"][0](ids)
    plain = {**request, "variables": {"VAR_1": request["variables"]["VAR_1"]["content"]}}
    status, answer = api.call("POST", "/send", plain)
    assert (status, answer["data"]["body"]) == (200, "<div><p><strong>test</strong></p></div>")
    status, answer = api.call("POST", "/send", {**request, "variables": {"VAR_1": "test"}})
    assert status == 400 and answer["error"].startswith(
        "Variable `VAR_1` holds an invalid Draft.js document: content is not the JSON text"
    )
    text = api.templates("text")
    status, answer = api.call(
        "POST", "/send", {**request, "templateId": text["main"], "variables": {"VAR_1": "<b>"}}
    )
    assert (status, answer["data"]["body"]) == (200, "<div>&lt;b&gt;</div>")
