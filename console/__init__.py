"""The operator console: server-rendered pages under /console over the store and tasks."""

from __future__ import annotations

from flask import Flask

from console import emails, overview, pages, signin, templates_page  # noqa: F401 - views join bp
from console.blueprint import bp


def init_console(app: Flask) -> None:
    """Serve the console's pages under /console."""
    app.register_blueprint(bp)
