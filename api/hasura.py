"""`POST /hasura/actions`: the `sendEmail` and `emailStatus` Hasura actions.

Hasura posts every action to one handler URL as `{"action": {"name"}, "input",
"session_variables", "request_query"}`, and relays a 4xx's `{"message", "extensions"}` to the
GraphQL client. Each action loads its input with its REST endpoint's schema and runs that
endpoint's code, so both answer alike; errors get Hasura's shape from api/errors.py, by path.
The GraphQL types and the Hasura metadata to paste are in docs/hasura/.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, g, jsonify, request
from flask.views import MethodView
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from api import idempotency
from api.auth import SCOPE_ATTRIBUTE, authenticate, check_scope
from api.blueprint import Blueprint
from api.emails import EmailSchema, find_email
from api.errors import (
    CATEGORIES,
    HASURA_ACTIONS_PATH,
    BadRequest,
    format_validation_messages,
    hasura_code,
)
from api.schemas import BaseSchema
from api.send import SendDataSchema, SendRequestSchema, send_email
from store.request import SendRequest

bp = Blueprint(
    "hasura",
    __name__,
    description="Hasura actions: sendEmail and emailStatus (Hasura's shapes, no envelope)",
)

F = TypeVar("F", bound=Callable[..., Any])
SEND_EMAIL = "sendEmail"
EMAIL_STATUS = "emailStatus"


class _HasuraSchema(Schema):
    """A part of the body that Hasura, not the GraphQL client, writes."""

    class Meta:
        # A later Hasura may add fields to its payload; refusing them would break every action
        # on an upgrade. The client's own `input` is loaded strictly, as on the REST endpoints.
        unknown = EXCLUDE


class ActionSchema(_HasuraSchema):
    """Which action Hasura runs."""

    name = fields.String(
        required=True,
        validate=validate.OneOf(
            [SEND_EMAIL, EMAIL_STATUS],
            error="unknown action `{input}`: Mailroom serves `sendEmail` and `emailStatus`",
        ),
    )


class ActionCallSchema(_HasuraSchema):
    """The body Hasura posts for any action; `input` is loaded by the action's own schema."""

    action = fields.Nested(ActionSchema, required=True)
    input = fields.Dict(keys=fields.String(), required=True)
    session_variables = fields.Dict(keys=fields.String())
    request_query = fields.String()


class EmailStatusInputSchema(BaseSchema):
    """The arguments of `emailStatus`."""

    email_id = fields.UUID(data_key="emailId", required=True)


class HasuraErrorExtensionsSchema(Schema):
    """What a GraphQL client can branch on."""

    code = fields.String(
        required=True, metadata={"enum": sorted({hasura_code(s) for s in CATEGORIES})}
    )


class HasuraErrorSchema(Schema):
    """Hasura's action error: its `message` is the REST endpoint's precise `error` text."""

    message = fields.String(required=True)
    extensions = fields.Nested(HasuraErrorExtensionsSchema, required=True)


def _action_document(name: str, title: str) -> type[Schema]:
    """`{"name": <name>}`, for the OpenAPI document."""
    return _HasuraSchema.from_dict(
        {"name": fields.String(required=True, validate=validate.OneOf([name]))},
        name=f"{title}Action",
    )


def _call_document(action: type[Schema], input_schema: type[Schema], title: str) -> type[Schema]:
    """The body Hasura posts for `action`, for the OpenAPI document."""
    return _HasuraSchema.from_dict(
        {
            "action": fields.Nested(action, required=True),
            "input": fields.Nested(input_schema, required=True),
            "session_variables": fields.Dict(keys=fields.String()),
            "request_query": fields.String(),
        },
        name=f"{title}Call",
    )


_SEND_EMAIL_ACTION = _action_document(SEND_EMAIL, "SendEmail")
_SEND_EMAIL_ARGUMENTS = BaseSchema.from_dict(
    {"input": fields.Nested(SendRequestSchema, required=True)}, name="SendEmailArguments"
)
_CALLS = [
    _call_document(_SEND_EMAIL_ACTION, SendRequestSchema, "SendEmail"),
    _call_document(_SEND_EMAIL_ACTION, _SEND_EMAIL_ARGUMENTS, "SendEmailWithArguments"),
    _call_document(
        _action_document(EMAIL_STATUS, "EmailStatus"), EmailStatusInputSchema, "EmailStatus"
    ),
]
_ERRORS = {
    400: "Malformed body, unknown action, or invalid `input` (the REST endpoint's texts)",
    401: "No API key, or an unknown one",
    403: "The key lacks the action's scope: `send` for sendEmail, `read` for emailStatus",
    404: "emailStatus: no such email",
    409: "sendEmail: an `Idempotency-Key` already used with a different body",
    413: "The request body or the attachments are too large",
    429: "Too many requests for this key",
    500: "Unexpected error (logged)",
    503: "Database or object storage unavailable: nothing was stored (a broker outage is a 200)",
}


def _document_errors(view: F) -> F:
    """Each error status, documented with Hasura's shape (not the envelope)."""
    for status, description in _ERRORS.items():
        view = bp.alt_response(status, schema=HasuraErrorSchema, description=description)(view)
    return view


def _require_key(view: F) -> F:
    """The view needs a live Bearer key; the action's scope is checked once the body is read."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        authenticate()
        return view(*args, **kwargs)

    # Read by the route walk and the OpenAPI document, which know one scope per route: this is
    # sendEmail's. emailStatus's `read` is checked in the view.
    setattr(wrapper, SCOPE_ATTRIBUTE, "send")
    return cast(F, wrapper)


@bp.route(HASURA_ACTIONS_PATH)
class HasuraActions(MethodView):
    """The handler of every Mailroom action in Hasura."""

    @_require_key
    @bp.doc(
        description=(
            "Requires an API key: scope `send` for sendEmail, `read` for emailStatus. "
            "sendEmail's `input` is the `POST /send` body, alone or as the `input` argument of "
            "the GraphQL field (docs/hasura/actions.graphql), and it answers `POST /send`'s "
            "`data`; emailStatus answers `GET /emails/<id>`'s."
        ),
        parameters=[
            {
                "in": "header",
                "name": idempotency.HEADER,
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "sendEmail: the same key and input within 24 h answer as first",
            }
        ],
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": _CALLS}}},
        },
        responses={
            "200": {
                "description": "The action's output object itself",
                "content": {
                    "application/json": {"schema": {"anyOf": [SendDataSchema, EmailSchema]}}
                },
            },
            # Replaces flask-smorest's default error response, which is the envelope.
            "default": {
                "description": "Any other error",
                "content": {"application/json": {"schema": HasuraErrorSchema}},
            },
        },
    )
    @_document_errors
    def post(self) -> Response:
        """Run the action Hasura names on its `input`; answer the output object alone."""
        call = _load(ActionCallSchema(), _json_object())
        scope, run = _ACTIONS[call["action"]["name"]]
        check_scope(g.api_key, scope)
        return jsonify(run(call["input"]))


def _send_email(arguments: dict[str, Any]) -> dict[str, Any]:
    """`sendEmail`: the `/send` body in, `POST /send`'s `data` out."""
    body = arguments
    # Hasura posts an action's arguments as `input`, and the shipped SDL declares
    # `sendEmail(input: SendEmailInput!)`, so the body arrives as `{"input": {...}}`. A `/send`
    # body has no `input` field, so the contract's form (the body itself) is told apart safely.
    if set(arguments) == {"input"} and isinstance(arguments["input"], dict):
        body = arguments["input"]
    loaded: SendRequest = _load(SendRequestSchema(), body)
    sent = send_email(loaded, idempotency.from_request(g.api_key.id, body))
    return dict(sent.answer["data"])


def _email_status(arguments: dict[str, Any]) -> dict[str, Any]:
    """`emailStatus`: `{"emailId"}` in, `GET /emails/<id>`'s `data` out."""
    loaded: dict[str, uuid.UUID] = _load(EmailStatusInputSchema(), arguments)
    email_id = loaded["email_id"]
    return cast(dict[str, Any], EmailSchema().dump(find_email(email_id)))


# action name -> (the scope it needs, what runs it)
_ACTIONS: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    SEND_EMAIL: ("send", _send_email),
    EMAIL_STATUS: ("read", _email_status),
}


def _json_object() -> dict[str, Any]:
    """The request's JSON object; 400 otherwise."""
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("the body is not valid JSON")
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _load(schema: Schema, data: Any) -> Any:
    """`schema.load(data)` (a dict, or what the schema's `post_load` makes); a 400 in the REST
    endpoints' words when it is refused."""
    try:
        return schema.load(data)
    except ValidationError as err:
        reason = "; ".join(format_validation_messages(err.messages)) or "invalid request"
        raise BadRequest(reason) from err
