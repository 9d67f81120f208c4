"""The send request as one value: `/send` and `/send/batch` check its fields alike, and it
crosses the broker as JSON unchanged."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.errors import format_validation_messages
from models import Email, ListMember
from store.request import SendRequest, request_from_json, request_to_json
from tasks.list_send import member_request
from tests.conftest import Keys

SEND: dict[str, Any] = {
    "from": "news@example.com",
    "to": "ann@example.com",
    "subject": "Hello {{ name }}",
    "html": "<p>Hi {{ name }}</p>",
}
BATCH: dict[str, Any] = {
    "from": "news@example.com",
    "subject": "Hello {{ name }}",
    "html": "<p>Hi {{ name }}</p>",
}


def error(client: FlaskClient, keys: Keys, path: str, body: dict[str, Any]) -> str:
    response = client.post(path, json=body, headers=keys.header("send"))
    assert response.status_code == 400, response.get_json()
    return str(response.get_json()["error"])


def stored(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Email)) or 0)


@pytest.mark.parametrize(
    "change",
    [
        {"variables": {"V" * 101: 1}},
        {"variables": {f"v{i}": i for i in range(201)}},
        {"attachments": ["files/" + "a" * 1025]},
        {"attachments": [f"files/{i}" for i in range(51)]},
        {"tags": [f"t{i}" for i in range(21)]},
        {"tags": [""]},
        {"headers": {"Received": "x"}},
        {"subject": "two\nlines"},
        {"subject": "s" * 999},
        {"from": "nope@"},
        {"replyTo": "reply@"},
        {"brandStyles": "sometimes"},
        {"templateId": "not-a-uuid"},
        {"subject": None},
    ],
)
def test_a_batch_refuses_the_message_fields_send_refuses_in_the_same_words(
    client: FlaskClient, keys: Keys, db_session: Session, change: dict[str, Any]
) -> None:
    refused = error(client, keys, "/send", {**SEND, **change})
    batch = {**BATCH, **change, "recipients": [{"to": "a@example.com"}]}
    assert error(client, keys, "/send/batch", batch) == refused
    assert stored(db_session) == 0


@pytest.mark.parametrize(
    ("recipient", "send_error", "batch_error"),
    [
        (
            {"to": "broken@"},
            "`broken@` is not a valid email address",
            "`recipients[1].to`: `broken@` is not a valid email address",
        ),
        (
            {"to": "a@example.com", "cc": 42},
            "`cc`: must be a string or an array of strings",
            "`recipients[1].cc`: must be a string or an array of strings",
        ),
        (
            {"to": ""},
            "`to` needs at least one address",
            "`recipients[1].to` needs at least one address",
        ),
        (
            {"to": "a@example.com", "variables": {"V" * 101: 1}},
            f"`variables.{'V' * 101}.key`: Longer than maximum length 100.",
            f"`recipients[1].variables.{'V' * 101}.key`: Longer than maximum length 100.",
        ),
        (
            {"to": "a@example.com", "lang": 5},
            "`lang`: Not a valid string.",
            "`recipients[1].lang`: Not a valid string.",
        ),
        (
            {"cc": "a@example.com"},
            "`to`: Missing data for required field.",
            "`recipients[1].to`: Missing data for required field.",
        ),
    ],
)
def test_a_recipient_is_checked_as_send_checks_it_and_named_by_its_index(
    client: FlaskClient,
    keys: Keys,
    db_session: Session,
    recipient: dict[str, Any],
    send_error: str,
    batch_error: str,
) -> None:
    body = {**SEND, **recipient}
    if "to" not in recipient:
        del body["to"]
    assert error(client, keys, "/send", body) == send_error
    # Only the first bad recipient is named.
    recipients = [{"to": "a@example.com"}, recipient, recipient]
    assert error(client, keys, "/send/batch", {**BATCH, "recipients": recipients}) == batch_error
    assert stored(db_session) == 0


def test_a_recipient_over_the_recipient_limit_is_named(
    client: FlaskClient, keys: Keys, db_session: Session
) -> None:
    most = client.application.config["MAX_RECIPIENTS"]
    many = [f"u{i}@example.com" for i in range(most + 1)]
    recipients = [{"to": "a@example.com"}, {"to": many[0], "bcc": many[1:]}]
    assert error(client, keys, "/send/batch", {**BATCH, "recipients": recipients}) == (
        f"`recipients[1]`: too many recipients: {most + 1} (at most {most} per email)"
    )
    assert stored(db_session) == 0


def test_named_messages_name_their_item() -> None:
    messages = {
        "to": ["`broken@` is not a valid email address", "`to` needs at least one address"],
        "_schema": ["too many recipients: 4 (at most 3 per email)"],
        "tags": {0: ["Shorter than minimum length 1."]},
    }
    assert format_validation_messages(messages, "recipients[6]", named=True) == [
        "`recipients[6].to`: `broken@` is not a valid email address",
        "`recipients[6].to` needs at least one address",
        "`recipients[6]`: too many recipients: 4 (at most 3 per email)",
        "`recipients[6].tags[0]`: Shorter than minimum length 1.",
    ]
    # Unnamed (every other endpoint), our sentences stand alone and indexes stay dotted.
    assert format_validation_messages({"recipients": {6: messages}}) == [
        "`broken@` is not a valid email address",
        "`to` needs at least one address",
        "`recipients.6`: too many recipients: 4 (at most 3 per email)",
        "`recipients.6.tags.0`: Shorter than minimum length 1.",
    ]


def test_a_request_crosses_json_unchanged() -> None:
    request = SendRequest(
        from_addr="Shop <shop@example.com>",
        to=("Ann <ann@example.com>",),
        cc=("cy@example.net",),
        bcc=("dee@example.org",),
        reply_to="help@example.com",
        subject="Hi",
        html="<p>Hi</p>",
        text="Hi",
        template_id=uuid.uuid4(),
        template_version=3,
        brand_id=uuid.uuid4(),
        lang="es",
        variables={"NAME": "Ann", "BODY": {"format": "html", "content": "<b>x</b>"}, "N": 2},
        attachments=("files/a.pdf", "files/b.pdf"),
        brand_styles=True,
        custom_style="p { color: red }",
        headers={"X-Campaign": "spring"},
        tags=("news", "batch:1"),
        send_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        signature=False,
    )
    assert request_from_json(json.loads(json.dumps(request_to_json(request)))) == request
    bare = SendRequest(from_addr=None, to=())
    assert request_from_json(json.loads(json.dumps(request_to_json(bare)))) == bare


def test_a_list_member_gets_the_message_with_its_own_values() -> None:
    shared = SendRequest(
        from_addr="shop@example.com",
        to=(),
        cc=("never@example.com",),
        subject="s",
        text="t",
        variables={"CODE": "none", "SHOP": "S"},
    )
    member = ListMember(
        email="ann@example.com", name="Ann Lee", variables={"CODE": "C1", "city": "Oslo"}
    )
    request = member_request(shared, member, declared=None)
    assert request.to == ("Ann Lee <ann@example.com>",) and request.cc == ()
    assert request.variables == {"CODE": "C1", "SHOP": "S", "city": "Oslo"}
    # A template declares its variables: a CSV's other columns are left out.
    templated = member_request(shared, member, declared={"CODE", "SHOP"})
    assert templated.variables == {"CODE": "C1", "SHOP": "S"}
    assert shared.variables == {"CODE": "none", "SHOP": "S"}  # unchanged
