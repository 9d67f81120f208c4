"""`mailroom templates export|import`: templates as JSON files, so they can live in git.

A file holds one template in the API's JSON (the body of `POST /templates`) plus its
`templateId`. Import validates each file exactly as the API does on save, by running the API's
own schema and save logic inside an application context; the whole import is one transaction,
so a refused file leaves the database as it was.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Template

# What `GET /templates/<id>` shows beyond these (version, timestamps) belongs to the database.
EXPORTED_FIELDS = (
    "templateId",
    "name",
    "lang",
    "subject",
    "html",
    "text",
    "variables",
    "attachments",
    "brandId",
    "brandStyles",
    "translations",
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ImportRefused(Exception):
    """A template file that cannot be imported; the message says why."""


def safe_filename(name: str) -> str:
    """A file name stem for a template name: letters, digits, `.`, `_` and `-` only."""
    return _UNSAFE.sub("-", name).strip(".-")[:100] or "template"


def template_document(template: Template) -> dict[str, Any]:
    """A template in the API's JSON, as written to its file."""
    from api.templates import TemplateOutSchema

    dumped: dict[str, Any] = TemplateOutSchema().dump(template)
    return {name: dumped[name] for name in EXPORTED_FIELDS}


@click.group()
def templates() -> None:
    """Templates as JSON files."""


@templates.command("export")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("templates"),
    show_default=True,
    help="folder to write `<name>.json` files into (created if missing)",
)
def templates_export(out: Path) -> None:
    """Write every template to `<name>.json` in the API's JSON (ids kept, versions not)."""
    from mailroom.cli_errors import sessions

    out.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    with sessions()() as session:
        rows = session.scalars(select(Template).order_by(Template.created_at, Template.id))
        for template in rows:
            stem = safe_filename(template.name)
            if stem.lower() in used:  # two names that differ only in unsafe characters or case
                stem = f"{stem}-{str(template.id)[:8]}"
            used.add(stem.lower())
            path = out / f"{stem}.json"
            document = json.dumps(template_document(template), indent=2, ensure_ascii=False)
            path.write_text(document + "\n", encoding="utf-8")
            click.echo(f"exported {template.name} -> {path}")


def _files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and every `*.json` directly inside the folders named, in name order."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return files


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    """What an import may change, from a loaded `TemplateInSchema` body."""
    keys = ("name", "lang", "subject", "html", "text", "variables", "attachments", "brand_id")
    return {
        **{key: data[key] for key in keys},
        "brand_styles": data["brand_styles"],
        "translations": {
            lang: {"subject": c["subject"], "html": c["html"], "text": c["text"]}
            for lang, c in data["translations"].items()
        },
    }


def _stored(template: Template) -> dict[str, Any]:
    """The same view of a stored template."""
    return _comparable(
        {
            "name": template.name,
            "lang": template.lang,
            "subject": template.subject,
            "html": template.html,
            "text": template.text,
            "variables": template.variables,
            "attachments": template.attachments,
            "brand_id": template.brand_id,
            "brand_styles": template.brand_styles,
            "translations": {
                t.lang: {"subject": t.subject, "html": t.html, "text": t.text}
                for t in template.translations
            },
        }
    )


def _match(session: Session, template_id: uuid.UUID | None, name: str) -> Template | None:
    """The template a file updates: by id if it exists, else by name, else none."""
    if template_id is not None:
        found = session.get(Template, template_id)
        if found is not None:
            return found
    named = list(session.scalars(select(Template).where(Template.name == name).limit(2)))
    if len(named) > 1:
        raise ImportRefused(
            f"several templates are named `{name}`; give the file the `templateId` to update"
        )
    return named[0] if named else None


def _read(path: Path) -> tuple[uuid.UUID | None, dict[str, Any]]:
    """The file's `templateId` and the rest of its JSON, loaded by the API's schema."""
    from marshmallow import ValidationError

    from api.errors import format_validation_messages
    from api.templates import TemplateInSchema

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ImportRefused(f"cannot read the file: {err}") from err
    except json.JSONDecodeError as err:
        raise ImportRefused(f"not valid JSON: {err}") from err
    if not isinstance(raw, dict):
        raise ImportRefused("expected a JSON object (one template per file)")
    given_id = raw.pop("templateId", None)
    try:
        template_id = None if given_id is None else uuid.UUID(str(given_id))
    except ValueError as err:
        raise ImportRefused(f"`{given_id}` is not a valid templateId") from err
    try:
        data: dict[str, Any] = TemplateInSchema().load(raw)
    except ValidationError as err:
        raise ImportRefused("; ".join(format_validation_messages(err.messages))) from err
    return template_id, data


def import_file(session: Session, path: Path) -> tuple[str, Template]:
    """Create or update the template in `path` (not committed): what was done, and the row."""
    from api.errors import ApiError
    from api.templates import _validate_and_apply

    template_id, data = _read(path)
    existing = _match(session, template_id, data["name"])
    unchanged = existing is not None and _stored(existing) == _comparable(data)
    # An unchanged file is still checked (an attachment may have gone), on a scratch row.
    target = Template(id=template_id or uuid.uuid4(), version=1)
    if existing is not None and not unchanged:
        target = existing
    try:
        _validate_and_apply(target, data)
    except ApiError as err:
        raise ImportRefused(err.reason) from err
    if existing is None:
        session.add(target)
        return "created", target
    if not unchanged:
        existing.version += 1
    return ("unchanged" if unchanged else "updated"), existing


def _shown(path: Path | None) -> str | None:
    return path.name if path is not None else None


@templates.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def templates_import(paths: tuple[Path, ...]) -> None:
    """Create or update templates from JSON files or folders of them, validated as the API does.

    A file's template is matched by `templateId` when that template exists, else by name;
    an update bumps its version. All or nothing: the first invalid file stops the import.
    """
    from api import create_app
    from api.db import db
    from mailroom.cli_errors import check_schema

    files = _files(paths)
    app = create_app()
    done: list[str] = []
    with app.app_context():
        session = db()
        check_schema(session.get_bind())
        # Progress on stderr: stdout keeps one line per template, for scripts.
        with click.progressbar(
            files, label="checking templates", file=sys.stderr, item_show_func=_shown
        ) as bar:
            for path in bar:
                try:
                    outcome, template = import_file(session, path)
                    session.flush()
                except ImportRefused as err:
                    session.rollback()
                    click.echo(f"\n{path}: {err}", err=True)
                    click.echo("nothing imported", err=True)
                    sys.exit(1)
                done.append(
                    f"{outcome} {template.name} ({template.id}, version {template.version})"
                )
        session.commit()
    for line in done:
        click.echo(line)
    if not files:
        click.echo("no template files found", err=True)
