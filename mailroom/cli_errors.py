"""What the `mailroom` command says when it cannot work: one line, what is wrong and what to do.

`main` (a `FriendlyGroup`) turns the failures an operator can fix — a bad setting, a database or
broker that does not answer, a schema behind the code — into that line and exit status 1;
`mailroom --debug ...` lets the traceback through instead.
"""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from mailroom.config import SettingsError, get_settings


class SchemaNotCurrent(Exception):
    """The database's schema is not the one this code needs (migrations pending or unknown)."""


def _safe_url(url: str) -> str:
    """The URL with its password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "(unparseable URL)"


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _is_missing_table(err: sa_exc.DBAPIError) -> bool:
    text = str(err.orig).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def explain(err: BaseException) -> str | None:
    """The one-line message for a failure an operator can fix, or None for a bug."""
    from kombu.exceptions import OperationalError as BrokerError

    if isinstance(err, SettingsError):
        return f"bad setting: {err}. Fix the environment or .env (see .env.example)."
    if isinstance(err, SchemaNotCurrent):
        return str(err)
    if isinstance(err, sa_exc.DBAPIError) and _is_missing_table(err):
        return "the database has no Mailroom tables: run `mailroom db upgrade` first."
    if isinstance(err, sa_exc.OperationalError | sa_exc.InterfaceError):
        url = _safe_url(get_settings().database_url)
        return (
            f"cannot reach the database at {url} ({_first_line(err)}). "
            "Check that it is running and that DATABASE_URL is right."
        )
    if isinstance(err, BrokerError | ConnectionError):
        url = _safe_url(get_settings().broker_url)
        return (
            f"cannot reach the broker at {url} ({_first_line(err)}). "
            "Check that it is running and that BROKER_URL is right."
        )
    return None


def sessions() -> sessionmaker[Session]:
    """Sessions on the configured database, once its schema is checked to be current."""
    from models.db import make_engine, make_session_factory

    engine = make_engine(get_settings().database_url)
    check_schema(engine)
    return make_session_factory(engine)


def check_schema(bind: Engine | Connection) -> None:
    """Raise SchemaNotCurrent unless the database is at the newest migration."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from mailroom.migrate import alembic_config

    engine = bind.engine
    url = engine.url.render_as_string(hide_password=False)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current == head:
        return
    if current is None:
        raise SchemaNotCurrent(
            "the database has no Mailroom tables: run `mailroom db upgrade` first."
        )
    raise SchemaNotCurrent(
        f"the database schema is at {current}, this Mailroom needs {head}: "
        "run `mailroom db upgrade`."
    )


class FriendlyGroup(click.Group):
    """A group whose operator-fixable failures end in one line (the traceback with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as err:
            message = None if ctx.params.get("debug") else explain(err)
            if message is None:
                raise
            click.echo(f"mailroom: {message}", err=True)
            ctx.exit(1)
