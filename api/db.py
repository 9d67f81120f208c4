"""The database session of the current request, closed when the request ends."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from models.db import make_engine, make_session_factory


def init_db(app: Flask) -> None:
    """Build the engine from `DATABASE_URL` and close each request's session on teardown."""
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["mailroom.engine"] = engine
    app.extensions["mailroom.sessions"] = make_session_factory(engine)
    app.teardown_appcontext(_close_session)


def db() -> Session:
    """This request's session, opened on first use."""
    if "db_session" not in g:
        factory: sessionmaker[Session] = current_app.extensions["mailroom.sessions"]
        g.db_session = factory()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
