"""Per-process resources of a worker: database sessions, providers, storage.

Built on first use and thrown away after a fork, so each pool process owns its connections
(one SMTP session, one HTTP client per provider) and reuses them across emails.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailroom.config import Settings, get_settings
from models.db import make_engine, make_session_factory
from providers.failover import FailoverSender
from providers.registry import ProviderSettings, build_providers
from storage import ObjectStorage, build_storage
from tasks.provider_health import DatabaseHealth
from tasks.throttle import parse_rates, throttle


@dataclass
class Runtime:
    """What one worker process holds on to between tasks."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    sender: FailoverSender
    storage: ObjectStorage

    @property
    def lease(self) -> timedelta:
        """How long a claim or a publish is trusted before the sweeper steps in."""
        return timedelta(seconds=self.settings.sweep_lease_seconds)


_runtime: Runtime | None = None


def provider_settings(settings: Settings) -> ProviderSettings:
    """The provider layer's view of our configuration."""
    return ProviderSettings(
        outbox_dir=settings.outbox_dir,
        smtp_host=settings.smtp.host,
        smtp_port=settings.smtp.port,
        smtp_username=settings.smtp.username,
        smtp_password=settings.smtp.password,
        smtp_starttls=settings.smtp.starttls,
        smtp_ssl=settings.smtp.ssl,
        smtp_timeout=settings.smtp.timeout,
        smtp_dkim_selector=settings.smtp.dkim_selector,
        smtp_dkim_domain=settings.smtp.dkim_domain,
        smtp_dkim_private_key=settings.smtp.dkim_private_key,
        ses_region=settings.ses.region,
        ses_endpoint_url=settings.ses.endpoint_url,
        ses_configuration_set=settings.ses.configuration_set,
        ses_connect_timeout=settings.ses.connect_timeout,
        ses_read_timeout=settings.ses.read_timeout,
        sendgrid_api_key=settings.sendgrid.api_key,
        sendgrid_host=settings.sendgrid.host,
        sendgrid_timeout=settings.sendgrid.timeout,
    )


def get() -> Runtime:
    """This process's runtime, built on first use."""
    global _runtime
    if _runtime is None:
        settings = get_settings()
        engine = make_engine(settings.database_url)
        providers = throttle(
            build_providers(settings.email_providers, provider_settings(settings)),
            engine,
            parse_rates(settings.provider_rates),
        )
        _runtime = Runtime(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            sender=FailoverSender(
                providers,
                DatabaseHealth(
                    engine,
                    cooldown_seconds=settings.provider_cooldown_seconds,
                    failure_threshold=settings.circuit_failure_threshold,
                ),
            ),
            storage=build_storage(
                settings.storage_backend,
                local_root=settings.storage_local_root,
                gcs_project=settings.gcs_project,
            ),
        )
    return _runtime


def reset() -> None:
    """Forget inherited resources (after a fork) without closing the parent's connections."""
    global _runtime
    if _runtime is not None:
        _runtime.engine.dispose(close=False)
    _runtime = None


@contextmanager
def transaction() -> Iterator[Session]:
    """A session in a transaction that commits on success and rolls back on error."""
    with get().sessions() as session, session.begin():
        yield session
