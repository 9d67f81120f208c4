"""A local server that speaks SendGrid's v3 Mail Send (`POST /v3/mail/send`), for tests.

It checks the Bearer key and the shape of the JSON the way SendGrid does (answering 400 with
`{"errors": [{"message", "field"}]}`), records what it accepts, and answers 202 with an
`X-Message-Id`. Its `mode` makes it misbehave on demand: "unauthorized" (401), "throttle"
(429), "error" (500), "unavailable" (503), "reject" (400: the recipient refused for good) or
"hang" (sleep `hang_seconds` before answering).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeGuard

from tests.support.http_server import SwitchableServer

MODES = ("accept", "unauthorized", "throttle", "error", "unavailable", "hang", "reject")
_STATUS = {"unauthorized": 401, "throttle": 429, "error": 500, "unavailable": 503}


@dataclass(frozen=True)
class Accepted:
    """One accepted request: its payload, the id we answered, and its request headers."""

    payload: dict[str, Any]
    message_id: str
    headers: dict[str, str]


def validate(payload: Any) -> list[dict[str, str]]:
    """SendGrid-style errors for a Mail Send body; empty when SendGrid would accept it."""
    if not isinstance(payload, dict):
        return [{"message": "The request body must be a JSON object.", "field": ""}]
    errors: list[dict[str, str]] = []

    def error(message: str, field: str) -> None:
        errors.append({"message": message, "field": field})

    personalizations = payload.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        error("You must have at least one personalization.", "personalizations")
        personalizations = []
    for i, personalization in enumerate(personalizations):
        _check_personalization(personalization, i, payload, error)
    sender = payload.get("from")
    if not isinstance(sender, dict) or not _is_email(sender.get("email")):
        error("The from object must be provided for every email send.", "from.email")
    content, template = payload.get("content"), payload.get("template_id")
    if not content and not template:
        error("Unless a template_id is provided, the content parameter is required.", "content")
    for i, part in enumerate(content or []):
        if not isinstance(part, dict) or not part.get("type") or not part.get("value"):
            error("The content value must be a string at least one character in length.",
                  f"content.{i}.value")  # fmt: skip
    types = [part.get("type") for part in content or [] if isinstance(part, dict)]
    if "text/plain" in types and types.index("text/plain") != 0:
        error("If present, text/plain content must be first.", "content")
    for i, attachment in enumerate(payload.get("attachments") or []):
        _check_attachment(attachment, i, error)
    categories = payload.get("categories") or []
    if len(categories) > 10 or any(len(c) > 255 for c in categories):
        error("You cannot have more than 10 categories of at most 255 characters.", "categories")
    reply_to = payload.get("reply_to")
    if reply_to is not None and not _is_email(reply_to.get("email")):
        error("The reply_to email does not contain a valid address.", "reply_to")
    return errors


def _check_personalization(p: Any, i: int, payload: dict[str, Any], error: Any) -> None:
    field = f"personalizations.{i}"
    if not isinstance(p, dict) or not p.get("to"):
        error("The to array is required for all personalization objects.", f"{field}.to")
        return
    seen: set[str] = set()
    for kind in ("to", "cc", "bcc"):
        for j, recipient in enumerate(p.get(kind) or []):
            email = recipient.get("email") if isinstance(recipient, dict) else None
            if not _is_email(email):
                error("Does not contain a valid address.", f"{field}.{kind}.{j}.email")
                continue
            if email.lower() in seen:
                error("Each email address in the personalization block should be unique between "
                      f"to, cc, and bcc. We found the first duplicate instance of [{email}] in "
                      f"the {field}.{kind} field.", field)  # fmt: skip
            seen.add(email.lower())
    if not p.get("subject") and not payload.get("subject") and not payload.get("template_id"):
        error("The subject is required.", "subject")


def _check_attachment(attachment: Any, i: int, error: Any) -> None:
    field = f"attachments.{i}"
    if not isinstance(attachment, dict) or not attachment.get("filename"):
        error("The attachment filename parameter is required.", f"{field}.filename")
        return
    try:
        base64.b64decode(attachment.get("content") or "", validate=True)
    except (binascii.Error, ValueError):
        error("The attachment content must be base64 encoded.", f"{field}.content")
    if not attachment.get("content"):
        error("The attachment content is required.", f"{field}.content")


def _is_email(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and value.count("@") == 1 and "." in value.split("@")[1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # Keep-alive, as SendGrid's API does: a client may send many requests on one connection.
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's method name
        sink = self.server.sink
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with sink.lock:
            sink.requests += 1
            mode = sink.mode
        if self.path != "/v3/mail/send":
            self._answer(404, {"errors": [{"message": "not found", "field": None}]})
            return
        if mode == "hang":
            # The whole request was read: a client giving up now cannot know what happened.
            sink.release.wait(sink.hang_seconds)
        if self.headers.get("Authorization") != f"Bearer {sink.api_key}" or mode == "unauthorized":
            message = "The provided authorization grant is invalid, expired, or revoked"
            self._answer(401, {"errors": [{"message": message, "field": None, "help": None}]})
            return
        if mode == "reject":
            field = "personalizations.0.to.0.email"
            self._answer(
                400, {"errors": [{"message": "Does not contain a valid address.", "field": field}]}
            )
            return
        if mode in _STATUS:
            self._answer(_STATUS[mode], {"errors": [{"message": f"{mode} (test)", "field": None}]})
            return
        try:
            payload = json.loads(body)
        except ValueError:
            self._answer(400, {"errors": [{"message": "Bad Request", "field": None}]})
            return
        errors = validate(payload)
        if errors:
            self._answer(400, {"errors": errors})
            return
        message_id = secrets.token_urlsafe(16)
        with sink.lock:
            sink.received.append(Accepted(payload, message_id, dict(self.headers.items())))
        self._answer(202, None, {"X-Message-Id": message_id})

    def _answer(
        self, status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up waiting (the "hang" mode's purpose)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is for the tests."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sink: SendGridServer) -> None:
        super().__init__(("127.0.0.1", sink.port), _Handler)
        self.sink = sink

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sink.lock:
            self.sink.connections += 1
        super().process_request(request, client_address)


class SendGridServer(SwitchableServer):
    """`start()` it, point the provider at `url`, read `received`; thread-safe, restartable."""

    MODES = MODES

    def __init__(self, api_key: str = "SG.test-key", port: int = 0) -> None:
        super().__init__("accept", port)
        self.api_key = api_key
        self.received: list[Accepted] = []
        # TCP connections accepted: fewer than requests when the client keeps them alive.
        self.connections = 0

    def _make_server(self) -> _Server:
        return _Server(self)
