"""WSGI entry point: `gunicorn mailroom.wsgi:app`."""

from api import create_app

app = create_app()
