"""WSGI entry point: `gunicorn -c python:mailroom.gunicorn_conf mailroom.wsgi:app`."""

from api import create_app
from mailroom import logs

logs.configure()
app = create_app()
