"""`POST /hasura/actions`: Hasura's shapes in and out, the REST endpoints' behaviour inside."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient
from graphql import GraphQLInputObjectType, GraphQLObjectType, build_schema
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.send import SendRequestSchema
from models import Email
from tasks.publish import PublishError
from tests.conftest import Keys

URL = "/hasura/actions"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "hasura"
SEND: dict[str, Any] = {
    "from": "Mailroom <noreply@example.com>",
    "to": ["ann@example.com"],
    "subject": "Hello",
    "html": "<p>Hi {{ NAME }}</p>",
    "variables": {"NAME": "Ann"},
    "tags": ["welcome"],
}
SESSION = {"x-hasura-role": "user", "x-hasura-user-id": "42"}


def call(name: str, arguments: Any) -> dict[str, Any]:
    """A body exactly as Hasura posts it."""
    return {
        "action": {"name": name},
        "input": arguments,
        "session_variables": SESSION,
        "request_query": f"mutation {{ {name} {{ emailId }} }}",
    }


def send_email(send_body: dict[str, Any]) -> dict[str, Any]:
    """sendEmail as the shipped SDL makes Hasura post it: the body is the `input` argument."""
    return call("sendEmail", {"input": send_body})


def stored(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Email)) or 0


def assert_hasura_error(response: Any, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.get_json()
    assert response.get_json() == {"message": message, "extensions": {"code": code}}


def test_send_email_then_email_status(client: FlaskClient, keys: Keys) -> None:
    auth = keys.header("send", "read")
    sent = client.post(URL, json=send_email(SEND), headers=auth)

    assert sent.status_code == 200, sent.get_json()
    output = sent.get_json()
    email_id = output["emailId"]
    assert output == {
        "emailId": email_id,
        "templateId": None,
        "from": "Mailroom <noreply@example.com>",
        "to": "ann@example.com",
        "cc": "",
        "bcc": "",
        "attachments": [],
        "body": "<p>Hi Ann</p>",
        "status": "queued",
    }

    status = client.post(URL, json=call("emailStatus", {"emailId": email_id}), headers=auth)

    assert status.status_code == 200, status.get_json()
    rest = client.get(f"/emails/{email_id}", headers=auth).get_json()["data"]
    assert status.get_json() == rest
    assert rest["status"] == "queued" and rest["subject"] == "Hello"
    assert rest["tags"] == ["welcome"]


def test_send_email_answers_as_post_send_does(client: FlaskClient, keys: Keys) -> None:
    auth = keys.header("send")
    action = client.post(URL, json=send_email(SEND), headers=auth).get_json()
    rest = client.post("/send", json=SEND, headers=auth).get_json()["data"]
    assert {**action, "emailId": None} == {**rest, "emailId": None}


def test_input_may_be_the_send_body_itself(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    # The contract's form: a caller that is not Hasura may post the body as `input` directly.
    response = client.post(URL, json=call("sendEmail", SEND), headers=keys.header("send"))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "queued"
    assert stored(db_session) == 1


def test_idempotency_key_answers_as_first(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    auth = {**keys.header("send"), "Idempotency-Key": "order-1042"}
    first = client.post(URL, json=send_email(SEND), headers=auth)
    again = client.post(URL, json=call("sendEmail", SEND), headers=auth)
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert stored(db_session) == 1

    different = client.post(URL, json=send_email({**SEND, "subject": "Other"}), headers=auth)
    assert_hasura_error(
        different,
        409,
        "conflict",
        "`Idempotency-Key` `order-1042` was already used with a different body",
    )
    assert stored(db_session) == 1


UNKNOWN_TEMPLATE = "7f1c1a5e-0b39-4c8e-9d43-2b8f4f0e3a11"


@pytest.mark.parametrize(
    ("send_body", "message"),
    [
        ({**SEND, "to": ["ann@example.com", "bob@"]}, "`bob@` is not a valid email address"),
        ({**SEND, "cc": "carol at example.com"}, "`carol` is not a valid email address"),
        (
            {"from": SEND["from"], "to": SEND["to"], "templateId": UNKNOWN_TEMPLATE},
            f"Template `{UNKNOWN_TEMPLATE}` not found",
        ),
        (
            {**SEND, "attachments": ["invoices/2026/missing.pdf"]},
            "attachment `invoices/2026/missing.pdf` not found",
        ),
        (
            {**SEND, "subject": "Hi\r\nBcc: victim@example.com"},
            "`subject` must not contain line breaks",
        ),
        ({k: v for k, v in SEND.items() if k != "to"}, "`to`: Missing data for required field."),
        ({**SEND, "cc": None}, "`cc`: Field may not be null."),
        ({**SEND, "colour": "blue"}, "`colour`: Unknown field."),
    ],
)
def test_send_email_refusals_carry_the_rest_text(
    client: FlaskClient, keys: Keys, db_session: Session, send_body: Any, message: str
) -> None:
    auth = keys.header("send")
    response = client.post(URL, json=send_email(send_body), headers=auth)

    assert_hasura_error(response, 400, "invalid-request", message)
    # The very text POST /send answers in `error` for the same body.
    assert client.post("/send", json=send_body, headers=auth).get_json()["error"] == message
    assert stored(db_session) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"action": {"name": "sendEmail"}, "session_variables": SESSION},
            "`input`: Missing data for required field.",
        ),
        ({"input": {}}, "`action`: Missing data for required field."),
        (
            call("deleteEverything", {}),
            "unknown action `deleteEverything`: Mailroom serves `sendEmail` and `emailStatus`",
        ),
        (call("sendEmail", "to: ann@example.com"), "`input`: Not a valid mapping type."),
        (["sendEmail"], "the body must be a JSON object"),
        (call("emailStatus", {}), "`emailId`: Missing data for required field."),
        (call("emailStatus", {"emailId": "42"}), "`emailId`: Not a valid UUID."),
    ],
)
def test_malformed_calls_are_400(
    client: FlaskClient, keys: Keys, db_session: Session, body: Any, message: str
) -> None:
    response = client.post(URL, json=body, headers=keys.header("send", "read"))
    assert_hasura_error(response, 400, "invalid-request", message)
    assert stored(db_session) == 0


def test_body_that_is_not_json_is_400(client: FlaskClient, keys: Keys) -> None:
    response = client.post(
        URL,
        data='{"action": {"name": "sendEmail"',
        headers={**keys.header("send"), "Content-Type": "application/json"},
    )
    assert_hasura_error(response, 400, "invalid-request", "the body is not valid JSON")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer mr_abc_def"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
)
def test_no_usable_key_is_401_before_the_body_is_read(
    client: FlaskClient, db_session: Session, headers: dict[str, str]
) -> None:
    response = client.post(URL, data="not even JSON", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["extensions"] == {"code": "unauthorized"}
    assert response.get_json()["message"] in {
        "missing Bearer API key",
        "unknown or revoked API key",
    }
    assert stored(db_session) == 0


@pytest.mark.parametrize(
    ("body", "scopes", "needed"),
    [
        (send_email(SEND), ("read", "templates"), "send"),
        (call("emailStatus", {"emailId": str(uuid.uuid4())}), ("send", "templates"), "read"),
    ],
)
def test_each_action_needs_its_scope(
    client: FlaskClient,
    keys: Keys,
    db_session: Session,
    body: dict[str, Any],
    scopes: tuple[str, ...],
    needed: str,
) -> None:
    response = client.post(URL, json=body, headers=keys.header(*scopes))
    assert_hasura_error(response, 403, "forbidden", f"this API key lacks the `{needed}` scope")
    assert stored(db_session) == 0


def test_unknown_email_is_404(client: FlaskClient, keys: Keys) -> None:
    email_id = str(uuid.uuid4())
    response = client.post(
        URL, json=call("emailStatus", {"emailId": email_id}), headers=keys.header("read")
    )
    assert_hasura_error(response, 404, "not-found", f"Email `{email_id}` not found")


def test_broker_down_is_200_and_the_email_stays_stored(
    client: FlaskClient, keys: Keys, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(email_ids: Any, *_: Any, **__: Any) -> None:
        raise PublishError("broker down", email_ids)

    monkeypatch.setattr("tasks.publish.enqueue", refuse)
    response = client.post(URL, json=send_email(SEND), headers=keys.header("send"))

    # Stored is accepted: the sweeper publishes it once the broker is back.
    assert response.status_code == 200, response.get_json()
    [email] = db_session.scalars(select(Email)).all()
    assert response.get_json()["emailId"] == str(email.id)
    assert response.get_json()["status"] == "queued"
    assert email.status.value == "queued" and email.enqueued_at is None


def test_other_routing_errors_keep_hasuras_shape(client: FlaskClient, keys: Keys) -> None:
    response = client.get(URL, headers=keys.header("read"))
    assert_hasura_error(response, 405, "method-not-allowed", "method not allowed for this endpoint")


# docs/hasura: what a Hasura admin pastes must match what the API takes and answers.

# Hasura provides these Postgres scalars; the SDL uses them without declaring them.
POSTGRES_SCALARS = "scalar uuid\nscalar jsonb\n"


def hasura_schema() -> Any:
    return build_schema(POSTGRES_SCALARS + (DOCS / "actions.graphql").read_text())


def test_sdl_declares_the_two_actions() -> None:
    schema = hasura_schema()
    mutation, query = schema.mutation_type, schema.query_type
    assert mutation is not None and query is not None
    send = mutation.fields["sendEmail"]
    assert str(send.args["input"].type) == "SendEmailInput!"
    assert str(send.type) == "SendEmailOutput"
    status = query.fields["emailStatus"]
    assert str(status.args["emailId"].type) == "uuid!"
    assert str(status.type) == "EmailStatusOutput"


def test_send_email_input_fields_are_send_fields() -> None:
    send_input = hasura_schema().type_map["SendEmailInput"]
    assert isinstance(send_input, GraphQLInputObjectType)
    send_fields = SendRequestSchema().fields.values()
    assert set(send_input.fields) <= {field.data_key or field.name for field in send_fields}
    required = {field.data_key or field.name for field in send_fields if field.required}
    assert {name for name, f in send_input.fields.items() if str(f.type).endswith("!")} == required


def test_output_fields_appear_in_the_answers(client: FlaskClient, keys: Keys) -> None:
    auth = keys.header("send", "read")
    sent = client.post(URL, json=send_email(SEND), headers=auth).get_json()
    status = client.post(URL, json=call("emailStatus", {"emailId": sent["emailId"]}), headers=auth)
    schema = hasura_schema()
    for type_name, answer in (("SendEmailOutput", sent), ("EmailStatusOutput", status.get_json())):
        output = schema.type_map[type_name]
        assert isinstance(output, GraphQLObjectType)
        assert set(output.fields) <= set(answer), (type_name, set(output.fields) - set(answer))
        for name, field in output.fields.items():
            if str(field.type).endswith("!"):
                assert answer[name] is not None, (type_name, name)


def test_metadata_points_both_actions_at_the_handler() -> None:
    metadata = yaml.safe_load((DOCS / "actions.yaml").read_text())
    actions = {action["name"]: action for action in metadata["actions"]}
    assert set(actions) == {"sendEmail", "emailStatus"}
    for action in actions.values():
        definition = action["definition"]
        assert definition["handler"] == "{{MAILROOM_URL}}/hasura/actions"
        assert definition["forward_client_headers"] is False
        assert definition["headers"] == [
            {"name": "Authorization", "value_from_env": "MAILROOM_ACTION_AUTHORIZATION"}
        ]
        assert action["permissions"] and action["comment"]
    assert actions["sendEmail"]["definition"]["kind"] == "synchronous"
    assert actions["emailStatus"]["definition"]["type"] == "query"
    custom = metadata["custom_types"]
    assert [t["name"] for t in custom["input_objects"]] == ["SendEmailInput"]
    assert {t["name"] for t in custom["objects"]} == {"SendEmailOutput", "EmailStatusOutput"}
