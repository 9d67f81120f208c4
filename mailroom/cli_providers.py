"""`mailroom providers check`: can each configured provider be reached with its credentials?

Nothing is sent. Each check does the least that proves the credentials work, with a timeout
on every network call, and says what it could not prove.
"""

from __future__ import annotations

import http.client
import json
import os
import smtplib
import ssl
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # the providers pull in boto3 and SendGrid: imported when a check runs
    from providers.registry import ProviderSettings


class CheckFailed(Exception):
    """A provider that would not work as configured; the message says why."""


def _smtp_text(resp: bytes | str) -> str:
    return resp.decode("utf-8", "replace") if isinstance(resp, bytes) else resp


def check_smtp(settings: ProviderSettings, timeout: float) -> str:
    """Connect, EHLO, STARTTLS and login when configured, QUIT."""
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        if settings.smtp_ssl:
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.smtp_host,
                settings.smtp_port,
                timeout=timeout,
                context=ssl.create_default_context(),
            )
        else:
            conn = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    except smtplib.SMTPConnectError as err:
        raise CheckFailed(
            f"{where} refused the session: {err.smtp_code} {_smtp_text(err.smtp_error)}"
        ) from err
    except OSError as err:  # refused, unreachable, timed out, TLS certificate not trusted
        raise CheckFailed(f"cannot connect to {where}: {err}") from err
    steps = ["SSL"] if settings.smtp_ssl else []
    try:
        conn.ehlo_or_helo_if_needed()
        steps.append("EHLO")
        if settings.smtp_starttls:
            if not conn.has_extn("starttls"):
                raise CheckFailed(f"{where} does not offer STARTTLS, which is required")
            conn.starttls(context=ssl.create_default_context())
            conn.ehlo()
            steps.append("STARTTLS")
        if settings.smtp_username is not None and settings.smtp_password is not None:
            if not conn.has_extn("auth"):
                raise CheckFailed(f"{where} offers no AUTH, but credentials are configured")
            conn.login(settings.smtp_username, settings.smtp_password)
            steps.append(f"login as {settings.smtp_username}")
        conn.quit()
    except smtplib.SMTPAuthenticationError as err:
        raise CheckFailed(
            f"{where} refused the login: {err.smtp_code} {_smtp_text(err.smtp_error)}"
        ) from err
    except smtplib.SMTPResponseException as err:
        raise CheckFailed(f"{where} answered {err.smtp_code} {_smtp_text(err.smtp_error)}") from err
    except OSError as err:  # smtplib's own errors, TLS failures, timeouts, dropped connections
        raise CheckFailed(f"session with {where} failed: {err}") from err
    finally:
        conn.close()
    return f"{where}: {', '.join(steps)} accepted"


def check_ses(settings: ProviderSettings, timeout: float) -> str:
    """SES v2 `GetAccount`: the credentials are accepted and sending is enabled."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session(
        aws_access_key_id=settings.ses_access_key_id,
        aws_secret_access_key=settings.ses_secret_access_key,
        region_name=settings.ses_region,
    )
    config = Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    try:
        client = session.client("sesv2", endpoint_url=settings.ses_endpoint_url, config=config)
    except (BotoCoreError, ValueError) as err:  # no region, a malformed endpoint URL
        raise CheckFailed(f"cannot set up the SES client: {err}") from err
    where = settings.ses_endpoint_url or f"region {client.meta.region_name}"
    try:
        return ses_verdict(client, where)
    except ClientError as err:
        answer = err.response.get("Error", {})
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise CheckFailed(
            f"{where}: {answer.get('Code') or status}: {answer.get('Message')}"
        ) from err
    except BotoCoreError as err:  # no credentials, unreachable endpoint, timeout
        raise CheckFailed(f"{where}: {err}") from err
    finally:
        client.close()


def ses_verdict(client: Any, where: str) -> str:
    """What GetAccount proves about `where`; botocore's errors go up to the caller."""
    from botocore.exceptions import ClientError

    try:
        account = client.get_account()
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code")
        if code in {"AccessDenied", "AccessDeniedException"}:
            # AWS checks the signature before the permission: the credentials are good.
            return f"{where}: credentials accepted; not allowed to read the account (GetAccount)"
        if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
            raise
        # An SES stand-in without GetAccount (moto answers 404): a signed read proves as much.
        client.list_email_identities(PageSize=1)
        return f"{where}: credentials accepted (the endpoint has no GetAccount)"
    if not account.get("SendingEnabled", False):
        raise CheckFailed(f"{where}: credentials accepted, but sending is disabled for the account")
    access = "production access" if account.get("ProductionAccessEnabled") else "sandbox"
    return f"{where}: credentials accepted, sending enabled ({access})"


def check_sendgrid(settings: ProviderSettings, timeout: float) -> str:
    """`GET /v3/scopes` with the key: accepted, and holding the `mail.send` scope."""
    key = settings.sendgrid_api_key or os.environ.get("SENDGRID_API_KEY")
    if not key:
        raise CheckFailed("no SendGrid API key is configured (SENDGRID_API_KEY)")
    host = settings.sendgrid_host.rstrip("/")
    request = urllib.request.Request(
        f"{host}/v3/scopes",
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise CheckFailed(f"{host} refused the API key ({err.code})") from err
        raise CheckFailed(
            f"{host} answered {err.code} to GET /v3/scopes: the key could not be checked"
        ) from err
    except urllib.error.URLError as err:
        raise CheckFailed(f"cannot reach {host}: {err.reason}") from err
    except (OSError, http.client.HTTPException) as err:
        raise CheckFailed(f"no answer from {host}: {err!r}") from err
    try:
        scopes = json.loads(body)["scopes"]
    except (ValueError, TypeError, KeyError) as err:
        raise CheckFailed(f"{host} gave an unexpected answer to GET /v3/scopes") from err
    if "mail.send" not in scopes:
        raise CheckFailed(f"{host} accepted the API key, but it lacks the mail.send scope")
    return f"{host}: API key accepted, with the mail.send scope"


def check_outbox(settings: ProviderSettings, timeout: float) -> str:
    """The folder exists or can be created, and a file can be written in it."""
    directory = settings.outbox_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".check-", suffix=".part")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise CheckFailed(f"outbox folder {directory} is not writable: {err}") from err
    return f"{directory} is writable"


CHECKS: dict[str, Callable[[ProviderSettings, float], str]] = {
    "outbox": check_outbox,
    "sendgrid": check_sendgrid,
    "ses": check_ses,
    "smtp": check_smtp,
}


@click.group()
def providers() -> None:
    """Email providers."""


@providers.command("check")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="seconds allowed for each network call",
)
def providers_check(timeout: float) -> None:
    """Check each provider of EMAIL_PROVIDERS without sending anything; exit 1 if any fails.

    \b
    smtp:     connect, EHLO, STARTTLS and login when configured, QUIT.
    ses:      SES v2 GetAccount: credentials accepted and sending enabled.
    sendgrid: GET /v3/scopes with the key: ok only if the key is accepted AND holds the
              mail.send scope. SendGrid has no way to validate a key without sending or
              reading something, and a key that reads /v3/scopes could still be refused by
              Mail Send for an unverified sender: that shows only on sending.
    outbox:   the folder exists or can be created, and is writable.
    """
    from mailroom.config import get_settings
    from providers.registry import build_providers
    from tasks.runtime import provider_settings

    settings = get_settings()
    values = provider_settings(settings)
    try:
        built = build_providers(settings.email_providers, values)
    except ValueError as err:  # an unknown name, or settings a provider refuses
        click.echo(f"EMAIL_PROVIDERS: FAILED: {err}")
        sys.exit(1)
    failed = False
    for provider in built:
        check = CHECKS.get(provider.name)
        try:
            if check is None:
                raise CheckFailed("no check exists for this provider")
            detail = check(values, timeout)
        except CheckFailed as err:
            failed = True
            click.echo(f"{provider.name}: FAILED: {err}")
        else:
            click.echo(f"{provider.name}: ok ({detail})")
        finally:
            provider.close()
    if failed:
        sys.exit(1)
