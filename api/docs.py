"""Swagger UI's files served from the installed swagger-ui-bundle, so `/docs` works offline."""

from __future__ import annotations

from flask import Blueprint, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

bp = Blueprint("docs_assets", __name__)
ASSETS_URL = "/docs/assets/"


@bp.get(f"{ASSETS_URL}<path:filename>")
def asset(filename: str) -> Response:
    """One file of Swagger UI (JavaScript, CSS, icons)."""
    return send_from_directory(str(swagger_ui_path), filename, max_age=86400)
