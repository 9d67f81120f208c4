"""Every operation of the OpenAPI document has a unique camelCase operationId.

Generated clients name their methods and types after it; two operations with one name would
leave a client with only one of them.
"""

from __future__ import annotations

import re

import flask_smorest
import pytest
from flask import Flask
from flask.views import MethodView

from api.blueprint import Blueprint
from api.openapi import complete_spec, document

METHODS = {"get", "post", "put", "patch", "delete"}
CAMEL_CASE = re.compile(r"[a-z]+(?:[A-Z][a-z0-9]*)+")


def test_every_operation_has_a_unique_camel_case_operation_id(app: Flask) -> None:
    spec = document(app)
    names = [
        (operation.get("operationId"), f"{method.upper()} {path}")
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if method in METHODS
    ]
    assert len(names) >= 39
    missing = [where for name, where in names if not name]
    assert not missing, missing
    assert len({name for name, _ in names}) == len(names)
    assert [name for name, _ in names if not CAMEL_CASE.fullmatch(name)] == []
    assert ("getEmailById", "GET /emails/{email_id}") in names
    assert ("postSend", "POST /send") in names
    assert ("getHealth", "GET /health") in names


def test_two_views_of_one_name_are_refused() -> None:
    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    api = flask_smorest.Api(app)
    for prefix in ("a", "b"):
        bp = Blueprint(prefix, prefix, url_prefix=f"/{prefix}")

        @bp.route("/")
        class Things(MethodView):
            def get(self) -> str:
                return "ok"

        api.register_blueprint(bp)
    with pytest.raises(ValueError, match="operationId getThings of GET /b/ is already GET /a/"):
        complete_spec(app, api)
