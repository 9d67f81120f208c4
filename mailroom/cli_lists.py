"""`mailroom lists import`: fill a list from a CSV file, with a progress bar.

The import runs in this process, through the same `run_import` a worker runs for
`POST /lists/<id>/import`, and is recorded the same way (`GET /lists/<id>/imports/<importId>`
shows it too).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import click


@click.group()
def lists() -> None:
    """Recipient lists."""


@lists.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "list_id", required=True, type=click.UUID, help="the list's id")
def lists_import(file: Path, list_id: uuid.UUID) -> None:
    """Import FILE, a CSV with an `email` column (other columns become variables)."""
    from mailroom.cli_errors import sessions
    from models import ImportState, ListImport, RecipientList
    from tasks.list_imports import claim, create_import, run_import

    with sessions()() as session:
        if session.get(RecipientList, list_id) is None:
            raise click.BadParameter(f"no list {list_id}", param_hint="--list")
        job = create_import(session, list_id, file.read_bytes())
        session.commit()
        claimed = claim(session, job.id)
        assert claimed is not None  # created just now, by us
        # Progress on stderr (bytes read of the file): stdout keeps the summary, for scripts.
        with click.progressbar(
            length=max(claimed.total_bytes, 1), label=f"importing {file.name}", file=sys.stderr
        ) as bar:

            def advance(done: ListImport) -> None:
                bar.update(done.bytes_done - bar.pos)

            run_import(session, claimed, advance)
        if claimed.state == ImportState.FAILED:
            click.echo(f"{file}: {claimed.failure}", err=True)
            click.echo(f"import {claimed.id} failed after {claimed.rows_done} rows", err=True)
            sys.exit(1)
        count = session.get(RecipientList, list_id, populate_existing=True)
        click.echo(
            f"{claimed.rows_done} rows: {claimed.imported} new, {claimed.updated} updated, "
            f"{claimed.duplicates} duplicates, {claimed.suppressed} suppressed, "
            f"{claimed.skipped} skipped; the list has {count.member_count if count else 0} members"
        )
        for error in claimed.errors[:20]:
            click.echo(f"line {error['line']}: {error['error']}", err=True)
        if claimed.skipped > 20:
            click.echo(f"... and {claimed.skipped - 20} more bad rows", err=True)
        click.echo(str(claimed.id))
