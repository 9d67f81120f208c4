"""Build the configured providers by name.

Each provider is one entry in `FACTORIES`: a function from `ProviderSettings` to a provider.
Adding one (SES, SendGrid) means a module, its settings fields with defaults, and one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from providers.base import Provider
from providers.outbox import OutboxProvider
from providers.smtp import SmtpProvider


@dataclass(frozen=True)
class ProviderSettings:
    """Everything any provider needs, as plain values; the application fills it from its config."""

    outbox_dir: Path = Path("var/outbox")
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)  # kept out of logs
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout: float = 30.0


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
    return SmtpProvider(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        ssl=settings.smtp_ssl,
        timeout=settings.smtp_timeout,
    )


FACTORIES: dict[str, ProviderFactory] = {
    "outbox": _outbox,
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
