"""Every route of the app needs a key unless the contract lists it as public."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Flask

from api.auth import SCOPE_ATTRIBUTE
from api.errors import CATEGORIES, GOMAIL_PREFIX, HASURA_ACTIONS_PATH, hasura_code
from tests.conftest import Keys

# The contract's public list: health, readiness, metrics, the API document and its page.
PUBLIC = {"/health", "/ready", "/metrics", "/openapi.json", "/docs"}
# Provider webhooks prove themselves by signature, not by key.
PUBLIC |= {"/webhooks/ses", "/webhooks/sendgrid"}
# The open pixel and the click redirect (a signed token instead of a key).
PUBLIC |= {"/t/o/<token>.gif", "/t/c/<token>"}
# One-click unsubscribe links prove themselves by their signed token (api/unsubscribe.py).
PUBLIC |= {"/u/<token>"}
PUBLIC_PREFIXES = ("/docs/assets/",)
# The console's pages sign in with a cookie, not a Bearer key: tests/console checks each of them.
CONSOLE_PREFIX = "/console"
# The Hasura route's scope depends on the action its body names; `{}` names none (a 400).
BODIES: dict[str, Any] = {HASURA_ACTIONS_PATH: {"action": {"name": "sendEmail"}, "input": {}}}


def concrete(rule: str) -> str:
    """A URL for a rule, with a value for each argument."""
    rule = re.sub(r"<uuid:[^>]+>", str(uuid.uuid4()), rule)
    return re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "x", rule)


def reason(rule: str, response: Any) -> str:
    """An error answer's precise reason, in its path's shape (GoMail's, Hasura's, the envelope)."""
    body = response.get_json()
    if rule.startswith(GOMAIL_PREFIX):
        assert body["success"] is False and body["email_id"] is None, body
        return str(body["message"])
    if rule == HASURA_ACTIONS_PATH:
        assert body["extensions"] == {"code": hasura_code(response.status_code)}, body
        return str(body["message"])
    assert body["message"] == CATEGORIES[response.status_code], body
    return str(body["error"])


def test_every_route_needs_a_key_unless_public(app: Flask, keys: Keys) -> None:
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(CONSOLE_PREFIX):
            continue
        url = concrete(rule.rule)
        public = rule.rule in PUBLIC or rule.rule.startswith(PUBLIC_PREFIXES)
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, json={})
            if public:
                assert response.status_code != 401, (method, rule.rule)
                continue
            checked += 1
            assert response.status_code == 401, (method, rule.rule, response.status_code)
            assert reason(rule.rule, response) == "missing Bearer API key"
            handler = getattr(getattr(view, "view_class", None), method.lower(), view)
            assert getattr(handler, SCOPE_ATTRIBUTE, None), (method, rule.rule)
    assert checked >= 12


def test_a_key_without_the_scope_is_403_everywhere(app: Flask, keys: Keys) -> None:
    client = app.test_client()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            handler = getattr(getattr(view, "view_class", None), method.lower(), view)
            scope = getattr(handler, SCOPE_ATTRIBUTE, None)
            if scope is None or scope == "admin":
                continue
            others = [s for s in ("send", "read", "templates") if s != scope]
            response = client.open(
                concrete(rule.rule),
                method=method,
                json=BODIES.get(rule.rule, {}),
                headers=keys.header(*others),
            )
            assert response.status_code == 403, (method, rule.rule)
            assert reason(rule.rule, response) == f"this API key lacks the `{scope}` scope"
