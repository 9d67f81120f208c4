"""Completes the OpenAPI document: who needs a key, the error envelope, the public endpoints.

flask-smorest documents what views declare; authentication and the shared error envelope are
applied by our decorators and handlers, so they are added here from the same source of truth
(the scope each view requires), rather than repeated on every view.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask_smorest import Api

from api.auth import SCOPE_ATTRIBUTE

_RULE_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
# flask-smorest registers this response with `Api.ERROR_SCHEMA`, our envelope.
_ERROR_REF = {"$ref": "#/components/responses/DEFAULT_ERROR"}
_PUBLIC_PATHS = {
    "/health": ("Liveness: 200 while the process lives", {"status": {"type": "string"}}),
    "/ready": (
        "Readiness: 200 when the database and the broker answer, else 503",
        {
            "status": {"type": "string"},
            "database": {"type": "string"},
            "broker": {"type": "string"},
        },
    ),
}


def _scopes(app: Flask) -> dict[tuple[str, str], str | None]:
    """(OpenAPI path, method) -> the scope its view requires, or None when public."""
    found: dict[tuple[str, str], str | None] = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        path = _RULE_ARG.sub(r"{\1}", rule.rule)
        for method in rule.methods or ():
            handler = getattr(view_class, method.lower(), None) if view_class else view
            found[(path, method.lower())] = getattr(handler, SCOPE_ATTRIBUTE, None)
    return found


def complete_spec(app: Flask, api: Api) -> None:
    """Add security requirements, error responses and the health endpoints to the spec."""
    # apispec keeps no public mutator, and flask-smorest's path helper wants a Flask rule.
    paths: dict[str, dict[str, Any]] = api.spec._paths
    for path, (summary, properties) in _PUBLIC_PATHS.items():
        ok = {"type": "object", "properties": properties}
        paths[path] = {
            "get": {
                "summary": summary,
                "security": [],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": ok}},
                    },
                    "503": _ERROR_REF,
                },
            }
        }
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics of every API and worker process",
            "security": [],
            "responses": {
                "200": {
                    "description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    scopes = _scopes(app)
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            scope = scopes.get((path, method))
            if scope is not None:
                operation["security"] = [{"bearerAuth": []}]
                operation.setdefault("description", f"Requires an API key with scope `{scope}`.")
                for status in ("401", "403", "429"):
                    responses.setdefault(status, _ERROR_REF)
            statuses = ["500", "503"]
            if operation.get("parameters") or operation.get("requestBody"):
                statuses += ["400", "413"]
            if "{" in path:
                statuses.append("404")
            for status in statuses:
                responses.setdefault(status, _ERROR_REF)
