"""Every route of the app needs a key unless the contract lists it as public."""

from __future__ import annotations

import re
import uuid

from flask import Flask

from api.auth import SCOPE_ATTRIBUTE
from tests.conftest import Keys

# The contract's public list: health, readiness, metrics, the API document and its page.
PUBLIC = {"/health", "/ready", "/metrics", "/openapi.json", "/docs"}
PUBLIC_PREFIXES = ("/docs/assets/",)


def concrete(rule: str) -> str:
    """A URL for a rule, with a value for each argument."""
    rule = re.sub(r"<uuid:[^>]+>", str(uuid.uuid4()), rule)
    return re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "x", rule)


def test_every_route_needs_a_key_unless_public(app: Flask, keys: Keys) -> None:
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
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
            assert response.get_json()["message"] == "unauthorized"
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
                concrete(rule.rule), method=method, json={}, headers=keys.header(*others)
            )
            assert response.status_code == 403, (method, rule.rule)
            assert response.get_json()["error"] == f"this API key lacks the `{scope}` scope"
