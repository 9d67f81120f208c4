"""`mailroom domains check DOMAIN`: the DNS records that sending DOMAIN's mail through the
configured providers needs, what DNS says now, and what is missing (exit 1 if anything is).

Only TXT records are read, from the system's resolver or from `--nameserver` /
MAILROOM_DNS_NAMESERVER. What cannot be checked from the settings (the DKIM CNAMEs SES and
SendGrid hand out, the addresses an SMTP relay sends from) is said in a note.
"""

from __future__ import annotations

import sys

import click

from mailroom.dns_records import (
    SENDING,
    Dns,
    LookupFailed,
    Verdict,
    check_dkim,
    check_dmarc,
    check_spf,
    parse_nameserver,
)

NOTES = {
    "ses": "ses signs with DKIM keys of its own: publish the CNAME records the SES console "
    "lists for {domain} (not checked here)",
    "sendgrid": "sendgrid signs once {domain} is authenticated: publish the CNAME records of "
    "its Sender Authentication page (not checked here)",
    "smtp": "smtp: SPF must also allow the addresses your relay ({host}) sends from "
    "(not checked here)",
}
NO_SMTP_DKIM = (
    "smtp signs nothing (SMTP_DKIM_SELECTOR, SMTP_DKIM_DOMAIN, SMTP_DKIM_PRIVATE_KEY unset): "
    "DMARC then rests on SPF, or on the relay signing for {domain}"
)


@click.group()
def domains() -> None:
    """Sending domains."""


def _nameserver(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            parse_nameserver(value)
        except ValueError as err:
            raise click.BadParameter(str(err)) from err
    return value


@domains.command("check")
@click.argument("domain")
@click.option(
    "--nameserver",
    callback=_nameserver,
    metavar="HOST[:PORT]",
    help="ask this DNS server; default MAILROOM_DNS_NAMESERVER, else the system's resolver",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="seconds allowed for each DNS lookup",
)
def domains_check(domain: str, nameserver: str | None, timeout: float) -> None:
    """Print the SPF, DKIM and DMARC records DOMAIN needs for EMAIL_PROVIDERS, what DNS holds
    and what is missing; exit 1 if anything is missing or DNS could not answer.

    \b
    SPF:   include:amazonses.com for ses, include:sendgrid.net for sendgrid.
    DKIM:  with SMTP_DKIM_* set, the TXT record <selector>._domainkey.<domain> holding the
           public half of SMTP_DKIM_PRIVATE_KEY.
    DMARC: a v=DMARC1 record at _dmarc.<domain> (or a parent domain), whenever a provider
           sends mail out.
    """
    from mailroom.config import get_settings
    from providers.registry import dkim_signer
    from tasks.runtime import provider_settings

    settings = get_settings()
    domain = domain.strip().rstrip(".").lower()
    providers = settings.email_providers
    click.echo(f"{domain}, for EMAIL_PROVIDERS={','.join(providers)}")
    if not SENDING.intersection(providers):
        click.echo("no configured provider sends mail out: no records needed")
        return
    try:
        signer = dkim_signer(provider_settings(settings)) if "smtp" in providers else None
    except ValueError as err:
        click.echo(f"FAILED: {err}")
        sys.exit(1)
    resolver = Dns(nameserver or settings.dns_nameserver, timeout)
    missing: list[str] = []
    checks = [
        lambda: check_spf(resolver, domain, providers),
        (lambda: check_dkim(resolver, domain, signer)) if signer is not None else None,
        lambda: check_dmarc(resolver, domain),
    ]
    for check in checks:
        try:
            verdict = check() if check is not None else None
        except LookupFailed as err:
            click.echo(f"FAILED: DNS did not answer: {err}")
            missing.append("an answer from DNS")
            continue
        if verdict is not None:
            _show(verdict)
            if verdict.missing is not None:
                missing.append(verdict.kind)
    for name in providers:
        if name in NOTES:
            click.echo("note: " + NOTES[name].format(domain=domain, host=settings.smtp.host))
    if "smtp" in providers and signer is None:
        click.echo("note: " + NO_SMTP_DKIM.format(domain=domain))
    if missing:
        click.echo(f"missing: {', '.join(missing)}")
        sys.exit(1)
    click.echo("all records in place")


def _show(verdict: Verdict) -> None:
    click.echo(f"{verdict.kind:<6} TXT {verdict.name}")
    click.echo(f"  needs:    {verdict.needs}")
    for record in verdict.found or ("nothing",):
        click.echo(f"  found:    {record}")
    if verdict.missing is None:
        click.echo("  ok")
        return
    click.echo(f"  missing:  {verdict.missing}")
    if verdict.publish is not None:
        click.echo(f"  publish:  {verdict.publish}")
