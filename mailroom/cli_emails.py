"""`mailroom send` and `mailroom status`: a test email and where an email stands, from a shell.

`send` stores the email exactly as `POST /send` does (same validation texts, same rows) and
publishes it after the commit; `status` shows what `GET /emails/<id>` answers.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from mailroom.cli_errors import sessions
from mailroom.config import get_settings
from models import Email, EmailStatus


def _session() -> Session:
    return sessions()()


def _recipients(values: tuple[str, ...]) -> list[str]:
    """Every `--to` (each may hold several addresses), checked as the API checks `to`."""
    from api.addresses import AddressError, split_addresses

    try:
        # One value at a time, each as the API reads a string: split as a list, an item such
        # as "a@x.org, Bob <b@y.org>" would lose every address but the first.
        to = list(dict.fromkeys(a for value in values for a in split_addresses(value)))
    except AddressError as err:
        raise click.BadParameter(str(err), param_hint="--to") from err
    if not to:
        raise click.BadParameter("`to` needs at least one address", param_hint="--to")
    most = get_settings().max_recipients
    if len(to) > most:
        raise click.BadParameter(
            f"too many recipients: {len(to)} (at most {most} per email)", param_hint="--to"
        )
    return to


def _sender(value: str | None) -> str:
    """`--from`, else DEFAULT_FROM, in the canonical form the API stores."""
    from api.addresses import AddressError, format_address

    raw = value or get_settings().default_from
    if not raw:
        raise click.UsageError("`from` is required (no default sender is configured)")
    try:
        return format_address(raw)
    except AddressError as err:
        raise click.BadParameter(str(err), param_hint="--from") from err


@click.command()
@click.option(
    "--to",
    "to",
    multiple=True,
    required=True,
    help="recipient; repeat it, or separate several with commas or spaces",
)
@click.option("--subject", required=True)
@click.option("--text", help="plain-text body (Jinja2 syntax allowed, as in the API)")
@click.option("--html", help="HTML body; give --text, --html or both")
@click.option("--from", "from_addr", help="sender, `Name <addr>` allowed  [default: DEFAULT_FROM]")
def send(
    to: tuple[str, ...], subject: str, text: str | None, html: str | None, from_addr: str | None
) -> None:
    """Queue a test email as `POST /send` would; its id is printed alone on the last line."""
    from render import RenderError, render_inline
    from store.accept import accept
    from store.request import SendRequest
    from tasks.publish import publish

    if text is None and html is None:
        raise click.UsageError("give --text, --html or both")
    if "\r" in subject or "\n" in subject:
        raise click.BadParameter("`subject` must not contain line breaks", param_hint="--subject")
    if len(subject) > 998:  # the API schema's limit: one header line
        raise click.BadParameter("Longer than maximum length 998.", param_hint="--subject")
    request = SendRequest(
        from_addr=_sender(from_addr),
        to=tuple(_recipients(to)),
        subject=subject,
        html=html,
        text=text,
    )
    try:
        rendered = render_inline(subject, html, text, request.variables)
    except RenderError as err:
        raise click.UsageError(err.message) from err
    correlation_id = uuid.uuid4().hex
    with _session() as session:
        [email] = accept(session, [(request, rendered)], correlation_id=correlation_id)
        session.commit()
        if email.status == EmailStatus.QUEUED and publish(
            session, [email.id], correlation={str(email.id): correlation_id}
        ):
            click.echo(
                f"broker unavailable: email {email.id} is stored; the sweeper will send it "
                "once the broker is back",
                err=True,
            )
        click.echo(f"{email.status.value}: {email.subject!r} to {', '.join(email.to)}")
        click.echo(str(email.id))


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    if not rows:
        return ["none"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in [header, *rows]
    ]


def _describe(data: dict[str, Any]) -> list[str]:
    """The text form of `GET /emails/<id>` data."""
    fields = [
        ("email", data["emailId"]),
        ("status", data["status"]),
        ("subject", data["subject"]),
        ("from", data["from"]),
        ("to", data["to"]),
        ("cc", data["cc"]),
        ("bcc", data["bcc"]),
        ("template", data["templateId"]),
        ("tags", ", ".join(data["tags"])),
        ("provider", data["provider"]),
        ("provider message id", data["providerMessageId"]),
        ("created", data["createdAt"]),
        ("updated", data["updatedAt"]),
    ]
    lines = [f"{name + ':':<21}{_cell(value)}" for name, value in fields]
    lines += ["", f"attempts ({len(data['attempts'])})"]
    lines += [
        "  " + line
        for line in _table(
            ("AT", "PROVIDER", "OUTCOME", "ERROR"),
            [(a["at"], a["provider"], a["outcome"], _cell(a["error"])) for a in data["attempts"]],
        )
    ]
    lines += ["", f"events ({len(data['events'])})"]
    lines += [
        "  " + line
        for line in _table(
            ("AT", "TYPE", "RECIPIENT", "PROVIDER", "DETAIL"),
            [
                (
                    e["at"],
                    e["type"],
                    _cell(e["recipient"]),
                    _cell(e["provider"]),
                    _cell(e["detail"]),
                )
                for e in data["events"]
            ],
        )
    ]
    return lines


@click.command()
@click.argument("email_id", type=click.UUID)
@click.option("--json", "as_json", is_flag=True, help="the data of GET /emails/<id>, as JSON")
def status(email_id: uuid.UUID, as_json: bool) -> None:
    """Status, provider, attempts and events of one email."""
    from api.emails import EmailSchema

    with _session() as session:
        email = session.scalars(
            select(Email)
            .where(Email.id == email_id)
            .options(
                selectinload(Email.events),
                selectinload(Email.attempts),
                selectinload(Email.tag_rows),
            )
        ).one_or_none()
        if email is None:
            click.echo(f"Email `{email_id}` not found", err=True)
            sys.exit(1)
        data: dict[str, Any] = EmailSchema().dump(email)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(_describe(data)))
