"""The `mailroom` command: database, API keys, test sends, status, templates, providers,
sending domains, sweeper, retention purge.

Everything runs against the configured database (DATABASE_URL) and broker (BROKER_URL).
"""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from mailroom import migrate
from mailroom.cli_domains import domains
from mailroom.cli_emails import send, status
from mailroom.cli_errors import FriendlyGroup
from mailroom.cli_errors import sessions as _sessions
from mailroom.cli_lists import lists
from mailroom.cli_providers import providers
from mailroom.cli_templates import templates
from mailroom.config import get_settings
from models import ApiKey, utcnow


@click.group(cls=FriendlyGroup)
@click.option("--debug", is_flag=True, help="show the traceback of a failure")
def main(debug: bool) -> None:
    """Mailroom: reliable transactional email."""


@main.group()
def config() -> None:
    """Settings."""


@config.command("example")
def config_example() -> None:
    """Print .env.example: every setting, its description and default (`> .env.example`)."""
    from mailroom.config_example import render

    click.echo(render(), nl=False)


@config.command("check")
def config_check() -> None:
    """Read every setting now; a bad one ends the command naming it."""
    settings = get_settings()
    click.echo(f"settings ok (providers: {','.join(settings.email_providers)})")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations (SQLite and PostgreSQL alike)."""
    migrate.upgrade(get_settings().database_url, revision)
    click.echo(f"database at {revision}", err=True)


@main.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--name", required=True, help="who or what the key is for")
@click.option("--scopes", required=True, help="comma-separated: send, read, templates, admin")
@click.option(
    "--test",
    is_flag=True,
    help="a test-mode key (mr_test_…): its emails go through the whole pipeline to the "
    "sandbox provider `test`, never to a real one, and can be read back with "
    "GET /emails/<id>/raw",
)
def keys_create(name: str, scopes: str, test: bool) -> None:
    """Create a key; it is printed once, alone on the last line of stdout."""
    from api.keys import InvalidScopes, create_key, parse_scopes

    try:
        scope_list = parse_scopes(scopes)
    except InvalidScopes as err:
        raise click.BadParameter(str(err), param_hint="--scopes") from err
    with _sessions()() as session:
        key, plaintext = create_key(session, name, scope_list, test=test)
        session.commit()
        mode = "test-mode key" if test else "key"
        click.echo(f"created {mode} {key.prefix} ({name}) with scopes {','.join(scope_list)}")
        click.echo(plaintext)


@keys.command("list")
def keys_list() -> None:
    """Every key with its scopes, mode (live or test) and when it was last used; never the
    secret."""
    with _sessions()() as session:
        for key in session.scalars(select(ApiKey).order_by(ApiKey.created_at)):
            state = "revoked" if key.revoked_at else "active"
            used = key.last_used_at.isoformat() if key.last_used_at else "never"
            mode = "test" if key.is_test else "live"
            click.echo(
                f"{key.prefix}\t{key.name}\t{','.join(key.scopes)}\t{state}\tlast used {used}"
                f"\t{mode}"
            )


@keys.command("revoke")
@click.argument("prefix")
def keys_revoke(prefix: str) -> None:
    """Revoke the key whose prefix (as `keys list` shows it) is PREFIX."""
    with _sessions()() as session:
        key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
        if key is None:
            click.echo(f"no key with prefix {prefix}", err=True)
            sys.exit(1)
        key.revoked_at = key.revoked_at or utcnow()
        session.commit()
        click.echo(f"revoked {prefix}")


@main.command()
def sweep() -> None:
    """Re-publish emails stuck past their lease (what the beat task does every interval)."""
    from tasks.sweeper import sweep as run_sweep

    click.echo(f"re-published {run_sweep()} emails")


@main.command()
@click.option("--dry-run", is_flag=True, help="count what is due, change nothing")
def purge(dry_run: bool) -> None:
    """Run the retention purge now (what the beat task does every interval), within
    MAILROOM_PURGE_MAX_SECONDS; with --dry-run, print what it would remove."""
    from tasks import retention

    if dry_run:
        due, orphans = retention.due()
        click.echo(f"content to clear: {due.content}")
        click.echo(f"emails to delete: {due.records}")
        click.echo(f"idempotency keys to delete: {due.idempotency_keys}")
        click.echo(f"orphaned uploads to delete: {orphans}")
        return
    done = retention.purge()
    click.echo(f"content cleared: {done.content}")
    click.echo(f"emails deleted: {done.records}")
    click.echo(f"idempotency keys deleted: {done.idempotency_keys}")
    click.echo(f"uploads deleted: {done.uploads}")
    if not done.finished:
        click.echo("stopped at MAILROOM_PURGE_MAX_SECONDS; run it again for the rest", err=True)


main.add_command(send)
main.add_command(status)
main.add_command(templates)
main.add_command(providers)
main.add_command(domains)
main.add_command(lists)
