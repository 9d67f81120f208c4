"""flask-smorest's Blueprint, with request validation errors answered as 400 in our envelope."""

from __future__ import annotations

from typing import Any, NoReturn

import flask_smorest
from flask import Request
from marshmallow import Schema, ValidationError
from webargs.flaskparser import FlaskParser

from api.errors import BadRequest, format_validation_messages


class _Parser(FlaskParser):
    """The contract answers bad input with 400 and one readable `error` sentence."""

    DEFAULT_VALIDATION_STATUS = 400

    def handle_error(
        self,
        error: ValidationError,
        req: Request,
        schema: Schema,
        *,
        error_status_code: int | None,
        error_headers: Any,
    ) -> NoReturn:
        reason = "; ".join(format_validation_messages(error.messages)) or "invalid request"
        raise BadRequest(reason)

    def _handle_invalid_json_error(
        self, error: Exception, req: Request, *args: Any, **kwargs: Any
    ) -> NoReturn:
        raise BadRequest("the body is not valid JSON")


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """Every resource module exposes one of these as `bp`."""

    ARGUMENTS_PARSER = _Parser()
