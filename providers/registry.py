"""Build the configured providers by name.

Each provider is one entry in `FACTORIES`: a function from `ProviderSettings` to a provider.
Adding one means a module, its settings fields with defaults, and one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from providers.base import Provider
from providers.outbox import OutboxProvider
from providers.pool import PooledProvider
from providers.sendgrid import DEFAULT_HOST as SENDGRID_DEFAULT_HOST
from providers.sendgrid import SendGridProvider
from providers.smtp import SmtpProvider

# boto3 (~27 MB per process) and dkimpy (~16 MB) load only in processes whose configured
# providers need them: every worker process would otherwise carry both.
if TYPE_CHECKING:
    from providers.dkim import DkimSigner


@dataclass(frozen=True)
class ProviderSettings:
    """Everything any provider needs, as plain values; the application fills it from its config.

    Each field is named as the environment variable it usually comes from, in lower case, and
    errors about a field name that variable (SMTP_DKIM_PRIVATE_KEY).
    """

    outbox_dir: Path = Path("var/outbox")
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)  # kept out of logs
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout: float = 30.0
    # DKIM signing by the smtp provider: all three, or none. The key is a PEM or a file's path.
    smtp_dkim_selector: str | None = None
    smtp_dkim_domain: str | None = None
    smtp_dkim_private_key: str | None = field(default=None, repr=False)
    # SES: None leaves region and credentials to boto3 (AWS_REGION, AWS_ACCESS_KEY_ID, ...,
    # a profile or an instance role).
    ses_region: str | None = None
    ses_access_key_id: str | None = None
    ses_secret_access_key: str | None = field(default=None, repr=False)
    ses_configuration_set: str | None = None
    ses_endpoint_url: str | None = None
    ses_connect_timeout: float = 5.0
    ses_read_timeout: float = 30.0
    # SendGrid: None leaves the key to the library's SENDGRID_API_KEY.
    sendgrid_api_key: str | None = field(default=None, repr=False)
    sendgrid_host: str = SENDGRID_DEFAULT_HOST
    sendgrid_timeout: float = 30.0
    # Sends one process runs at once: providers whose connection carries one send at a time
    # (SMTP) keep this many connections, the others size their HTTP pools to it.
    concurrency: int = 1


ProviderFactory = Callable[[ProviderSettings], Provider]


class UnknownProviderError(ValueError):
    """A provider name that no factory answers to."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(
            f"unknown email provider {name!r}; known providers: {', '.join(sorted(known))}"
        )
        self.name = name
        self.known = tuple(sorted(known))


def _outbox(settings: ProviderSettings) -> Provider:
    return OutboxProvider(settings.outbox_dir)


def _smtp(settings: ProviderSettings) -> Provider:
    signer = dkim_signer(settings)

    def connection() -> Provider:
        return SmtpProvider(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            ssl=settings.smtp_ssl,
            timeout=settings.smtp_timeout,
            dkim=signer,
        )

    if settings.concurrency == 1:
        return connection()
    return PooledProvider(connection, settings.concurrency)


def dkim_signer(settings: ProviderSettings) -> DkimSigner | None:
    """The smtp provider's signer, None without DKIM settings; ValueError naming the variable
    for a bad one."""
    values = {
        "SMTP_DKIM_SELECTOR": settings.smtp_dkim_selector,
        "SMTP_DKIM_DOMAIN": settings.smtp_dkim_domain,
        "SMTP_DKIM_PRIVATE_KEY": settings.smtp_dkim_private_key,
    }
    missing = [name for name, value in values.items() if not value]
    if len(missing) == len(values):
        return None
    if missing:
        raise ValueError(f"{', '.join(missing)} must be set too: DKIM needs all three settings")
    from providers.dkim import DkimSettingError, DkimSigner

    try:
        return DkimSigner.load(
            settings.smtp_dkim_selector or "",
            settings.smtp_dkim_domain or "",
            settings.smtp_dkim_private_key or "",
        )
    except DkimSettingError as err:
        raise ValueError(f"SMTP_DKIM_{err.setting.upper()}: {err}") from err


def _ses(settings: ProviderSettings) -> Provider:
    from providers.ses import SesProvider

    return SesProvider(
        region=settings.ses_region,
        access_key_id=settings.ses_access_key_id,
        secret_access_key=settings.ses_secret_access_key,
        configuration_set=settings.ses_configuration_set,
        endpoint_url=settings.ses_endpoint_url,
        connect_timeout=settings.ses_connect_timeout,
        read_timeout=settings.ses_read_timeout,
        max_connections=max(10, settings.concurrency),
    )


def _sendgrid(settings: ProviderSettings) -> Provider:
    return SendGridProvider(
        api_key=settings.sendgrid_api_key,
        host=settings.sendgrid_host,
        timeout=settings.sendgrid_timeout,
        max_connections=max(10, settings.concurrency),
    )


FACTORIES: dict[str, ProviderFactory] = {
    "outbox": _outbox,
    "sendgrid": _sendgrid,
    "ses": _ses,
    "smtp": _smtp,
}


def build_providers(names: Sequence[str], settings: ProviderSettings) -> list[Provider]:
    """The providers named, in failover order; nothing connects until the first send."""
    if len(set(names)) != len(names):
        raise ValueError(f"a provider is listed twice: {', '.join(names)}")
    providers = []
    for name in names:
        factory = FACTORIES.get(name)
        if factory is None:
            raise UnknownProviderError(name, list(FACTORIES))
        providers.append(factory(settings))
    return providers
