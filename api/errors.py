"""The contract's error envelope, and the one handler that produces it for every error."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# The GoMail-compatible endpoint lives under this prefix (see api/gomail.py).
GOMAIL_PREFIX = "/api/v1/email-service/"
# Hasura calls this one path for every action (see api/hasura.py).
HASURA_ACTIONS_PATH = "/hasura/actions"

# HTTP status -> the contract's `message` category.
CATEGORIES = {
    400: "invalid request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    413: "payload too large",
    415: "invalid request",
    422: "invalid request",
    429: "too many requests",
    500: "server error",
    503: "service unavailable",
}


class ApiError(Exception):
    """An error answer: the HTTP status and the precise reason a client reads."""

    status = 400

    def __init__(
        self,
        reason: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.headers = headers or {}


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class ServiceUnavailable(ApiError):
    status = 503


def envelope_error(status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    """`{"status": "error", "message": <category>, "error": <reason>}` with `status`."""
    category = CATEGORIES.get(status, "server error" if status >= 500 else "invalid request")
    response = jsonify({"status": "error", "message": category, "error": reason})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def gomail_error(status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    """`{"success": false, "message": <reason>, "email_id": null}`, GoMail's own error shape: an
    error stores nothing (a stored email is answered 200), so there is never an id to give."""
    response = jsonify({"success": False, "message": reason, "email_id": None})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def hasura_code(status: int) -> str:
    """The stable `extensions.code` of a Hasura error: the category, hyphenated."""
    category = CATEGORIES.get(status, "server error" if status >= 500 else "invalid request")
    return category.replace(" ", "-")


def hasura_error(status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    """`{"message": <reason>, "extensions": {"code": <category-as-code>}}`, Hasura's error shape."""
    response = jsonify({"message": reason, "extensions": {"code": hasura_code(status)}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    """The contract's envelope, or the caller's own shape on the GoMail and Hasura paths."""
    # GoMail's clients predate the envelope and read `success`/`message`. Routing (405), size
    # (413) and rate (429) errors are raised before any view runs, so the choice is made here,
    # for every handler, by path.
    if request.path.startswith(GOMAIL_PREFIX):
        return gomail_error(status, reason, headers)
    # Hasura relays only `message` and `extensions` of an action's 4xx to the GraphQL client;
    # an envelope would reach it as an opaque "unexpected" error.
    if request.path == HASURA_ACTIONS_PATH:
        return hasura_error(status, reason, headers)
    return envelope_error(status, reason, headers)


def format_validation_messages(messages: Any, path: str = "", *, named: bool = False) -> list[str]:
    """Flatten marshmallow's nested messages into readable sentences.

    Our own validators write whole sentences naming the value in backticks (the contract's
    texts); those are kept as they are. Marshmallow's generic ones get the field name in front.
    `named` is for an item of a list (`path` is then `recipients[6]`): the client must be told
    which item, so every sentence names its path, ours too, and a list index reads `[6]`.
    """
    if isinstance(messages, str):
        return [_sentence(messages, path, named)]
    if isinstance(messages, list):
        return [
            line
            for item in messages
            for line in format_validation_messages(item, path, named=named)
        ]
    if isinstance(messages, dict):
        lines: list[str] = []
        for key, value in messages.items():
            # webargs nests everything under the location ("json", "query"); drop that level.
            if key in {"json", "query", "form", "files", "headers", "view_args"} and not path:
                sub = ""
            elif key == "_schema":
                sub = path
            elif named and isinstance(key, int):
                sub = f"{path}[{key}]"
            else:
                sub = f"{path}.{key}" if path else str(key)
            lines.extend(format_validation_messages(value, sub, named=named))
        return lines
    return [str(messages)]


def _sentence(message: str, path: str, named: bool) -> str:
    """One message as a sentence that names `path` where the reader needs it."""
    if not path or ("`" in message and not named):
        return message
    if "`" not in message:
        return f"`{path}`: {message}"
    # Ours, naming its field by its own name (`to`): the full path says which item's.
    own = f"`{path.rpartition('.')[2]}`"
    if message.startswith(own):
        return f"`{path}`{message.removeprefix(own)}"
    return f"`{path}`: {message}"


def _handle_api_error(err: ApiError) -> Response:
    return _error(err.status, err.reason, err.headers)


def _handle_http_exception(err: HTTPException) -> Response:
    status = err.code or 500
    data = getattr(err, "data", None) or {}
    if "messages" in data:
        reason = "; ".join(format_validation_messages(data["messages"])) or "invalid request"
        status = 400
    elif status == 404:
        reason = "no such endpoint"
    elif status == 405:
        reason = "method not allowed for this endpoint"
    elif status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        reason = f"the request body is larger than {limit} bytes"
    elif status == 429:
        reason = f"rate limit exceeded: {err.description}"
    else:
        reason = err.description or err.name
    headers = {}
    if status == 405 and err.get_response().headers.get("Allow"):
        headers["Allow"] = err.get_response().headers["Allow"]
    return _error(status, reason, headers)


def _handle_database_down(err: OperationalError) -> Response:
    log.warning("database unavailable: %s", err.orig)
    return _error(503, "database unavailable")


def _handle_unexpected(err: Exception) -> Response:
    log.exception("unhandled error")
    return _error(500, "internal error; it has been logged")


def register_error_handlers(app: Flask) -> None:
    """Every error answers in JSON (the envelope, or GoMail's or Hasura's shape on their paths)."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(OperationalError, _handle_database_down)
    app.register_error_handler(Exception, _handle_unexpected)
