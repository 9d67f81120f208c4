"""Per-process resources of a worker: database sessions, providers, storage.

Built on first use and thrown away after a fork, so each pool process owns its connections
(one SMTP session, one HTTP client per provider) and reuses them across emails.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailroom.attachments import allowed_buckets
from mailroom.config import Settings, get_settings
from models.db import make_engine, make_session_factory
from providers.failover import FailoverSender
from providers.health import InMemoryHealth
from providers.registry import ProviderSettings, build_providers
from providers.sandbox import SandboxProvider
from storage import ObjectStorage, build_storage
from tasks.provider_health import DatabaseHealth
from tasks.throttle import parse_rates, throttle
from tasks.time_limits import walk_seconds


@dataclass
class Runtime:
    """What one worker process holds on to between tasks."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    sender: FailoverSender
    storage: ObjectStorage
    # Test-mode emails go here and nowhere else; it is not one of EMAIL_PROVIDERS, so a live
    # email can never reach it either.
    sandbox: FailoverSender

    def sender_for(self, is_test: bool) -> FailoverSender:
        """The sender of an email: the sandbox for a test-mode one, the providers otherwise."""
        return self.sandbox if is_test else self.sender

    @property
    def lease(self) -> timedelta:
        """How long a publish is trusted before the sweeper steps in."""
        return timedelta(seconds=self.settings.sweep_lease_seconds)

    @property
    def claim_lease(self) -> timedelta:
        """How long a send claim is trusted: what one failover walk can take, and a margin.

        Past it a redelivered task takes the claim over, so an email a killed worker held
        is sent again within about this long rather than the sweeper's lease.
        """
        if self.settings.claim_lease_seconds:
            return timedelta(seconds=self.settings.claim_lease_seconds)
        return timedelta(seconds=walk_seconds(self.settings) + CLAIM_MARGIN_SECONDS)


# Added to the providers' timeouts in a claim's lease: building the message, recording the
# outcome, a slow commit.
CLAIM_MARGIN_SECONDS = 10.0
_runtime: Runtime | None = None
_building = threading.Lock()


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
        concurrency=settings.send_concurrency,
    )


def get() -> Runtime:
    """This process's runtime, built on first use (by one thread: a sending worker runs tasks
    on many)."""
    if _runtime is None:
        with _building:
            if _runtime is None:
                _build()
    assert _runtime is not None
    return _runtime


def _build() -> None:
    global _runtime
    settings = get_settings()
    # Connections open lazily up to the pool's size: a prefork process, one task at a
    # time, uses one or two; a sending process's threads share a few, since a send holds
    # one only while it reads or records, never while a provider answers.
    engine = make_engine(
        settings.database_url,
        pool_size=min(10, settings.send_concurrency),
        max_overflow=max(10, settings.send_concurrency // 2),
        pool_timeout=30,
    )
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
            allowed_buckets=allowed_buckets(settings),
        ),
        # Nothing to cool down: the sandbox fails only on messages no provider would take.
        sandbox=FailoverSender([SandboxProvider()], InMemoryHealth(cooldown_seconds=0)),
    )


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
