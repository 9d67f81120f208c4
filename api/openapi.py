"""Completes the OpenAPI document: who needs a key, the error envelope, the public endpoints.

flask-smorest documents what views declare; authentication and the shared error envelope are
applied by our decorators and handlers, so they are added here from the same source of truth
(the scope each view requires), rather than repeated on every view. Every operation gets an
`operationId` (the name generated clients give it): the HTTP method followed by the view's
endpoint name, e.g. `getEmailById`, unless the view sets one with `@bp.doc(operationId=...)`.

`main()` prints the document without a database, broker or server; `make clients` generates the
TypeScript types in clients/ from it.
"""

from __future__ import annotations

import json
import re
import sys
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


_METHODS = ("get", "post", "put", "patch", "delete")


def _pascal(name: str) -> str:
    """`prometheus` -> `Prometheus`, `send_batch` -> `SendBatch`, `EmailById` unchanged."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _views(app: Flask) -> dict[tuple[str, str], tuple[str | None, str]]:
    """(OpenAPI path, method) -> (the scope its view requires or None, its operationId)."""
    found: dict[tuple[str, str], tuple[str | None, str]] = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        # The endpoint, not the class: one view class may serve two routes (GoMail's alias).
        name = _pascal(rule.endpoint.rsplit(".", 1)[-1])
        path = _RULE_ARG.sub(r"{\1}", rule.rule)
        for method in rule.methods or ():
            handler = getattr(view_class, method.lower(), None) if view_class else view
            scope = getattr(handler, SCOPE_ATTRIBUTE, None)
            found[(path, method.lower())] = (scope, method.lower() + name)
    return found


def complete_spec(app: Flask, api: Api) -> None:
    """Add security requirements, error responses and the health endpoints to the spec."""
    # apispec keeps no public mutator, and flask-smorest's path helper wants a Flask rule.
    paths: dict[str, dict[str, Any]] = api.spec._paths
    for path, (summary, properties) in _PUBLIC_PATHS.items():
        ok = {"type": "object", "properties": properties}
        paths[path] = {
            "get": {
                "operationId": "get" + _pascal(path.strip("/")),
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
            "operationId": "getMetrics",
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
    views = _views(app)
    operation_ids: dict[str, str] = {}
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            scope, derived = views[(path, method)]
            operation_id = operation.setdefault("operationId", derived)
            # A generated client would silently drop one of two same-named operations.
            if operation_id in operation_ids:
                raise ValueError(
                    f"operationId {operation_id} of {method.upper()} {path} is already "
                    f"{operation_ids[operation_id]}'s; name one with @bp.doc(operationId=...)"
                )
            operation_ids[operation_id] = f"{method.upper()} {path}"
            responses = operation.setdefault("responses", {})
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


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document the app serves at /openapi.json."""
    with app.test_client() as client:
        answer = client.get(app.config["OPENAPI_URL_PREFIX"] + app.config["OPENAPI_JSON_PATH"])
    body: dict[str, Any] = answer.get_json()
    return body


def main() -> None:
    """Print the document, keys sorted, from an app on a throwaway in-memory database."""
    from api import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "RATE_LIMIT": ""})
    json.dump(document(app), sys.stdout, indent=2, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")
