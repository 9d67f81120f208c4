"""Every setting Mailroom reads, from the environment (and an optional `.env`), in one place.

The names are part of the public contract (see CONTRACT.md, "Configuration"); defaults give the
embedded setup: SQLite and a filesystem broker under `var/`, and the local outbox provider.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from dotenv import load_dotenv

MB = 1024 * 1024


def _var_dir() -> Path:
    return Path(os.environ.get("MAILROOM_VAR_DIR", "var")).resolve()


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw is None or raw.strip() == "" else int(raw)


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw is None or raw.strip() == "" else float(raw)


def _str(name: str, default: str | None = None) -> str | None:
    raw = os.environ.get(name)
    return default if raw is None or raw.strip() == "" else raw.strip()


def _list(name: str, default: str) -> tuple[str, ...]:
    raw = os.environ.get(name) or default
    return tuple(part.strip().lower() for part in raw.split(",") if part.strip())


def _optional_list(name: str) -> tuple[str, ...] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return tuple(part.strip().lower() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    ssl: bool = False
    timeout: float = 30.0
    # DKIM signing: all three or none; the key is a PEM or the path of a PEM file.
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_private_key: str | None = None


@dataclass(frozen=True)
class SesSettings:
    """Region and credentials default to boto3's own (AWS_REGION, AWS_ACCESS_KEY_ID, ...)."""

    region: str | None = None
    endpoint_url: str | None = None
    configuration_set: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


@dataclass(frozen=True)
class SendGridSettings:
    api_key: str | None = None
    host: str = "https://api.sendgrid.com"
    timeout: float = 30.0


@dataclass(frozen=True)
class Settings:
    database_url: str
    broker_url: str
    var_dir: Path
    email_providers: tuple[str, ...] = ("outbox",)
    default_from: str | None = None
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    ses: SesSettings = field(default_factory=SesSettings)
    sendgrid: SendGridSettings = field(default_factory=SendGridSettings)
    gcs_project: str | None = None
    outbox_dir: Path = Path("var/outbox")
    storage_backend: str = "local"
    storage_local_root: Path = Path("var/storage")
    max_attachments_bytes: int = 7 * MB
    # Where the API stores files uploaded with an email, so that any worker can fetch them.
    uploads_bucket: str = "mailroom-uploads"
    # None keeps storage.hygiene's defaults (executables and scripts).
    denied_attachment_extensions: tuple[str, ...] | None = None
    denied_attachment_types: tuple[str, ...] | None = None
    # The queue the pipeline's tasks travel on; tests give each run its own.
    queue_name: str = "mailroom"
    queue_type: str = "classic"
    # An email left in a non-final state this long is re-enqueued by the sweeper.
    sweep_lease_seconds: float = 300.0
    sweep_interval_seconds: float = 30.0
    send_max_retries: int = 8
    retry_backoff_seconds: float = 2.0
    retry_backoff_max_seconds: float = 600.0
    provider_cooldown_seconds: float = 60.0
    circuit_failure_threshold: int = 5
    # Emails per second per provider, shared by every worker: {"ses": 14.0}.
    provider_rates: str = ""
    # Bound on how long the API may block on the broker before answering 503.
    publish_timeout_seconds: float = 3.0
    rate_limit: str = "100/second"
    rate_limit_storage_uri: str = "memory://"
    max_request_bytes: int = 10 * MB
    max_recipients: int = 50
    # Provider webhooks: which SNS topics are ours (empty: any topic SNS signed), where SNS
    # certificates may come from (empty: sns.<region>.amazonaws.com), SendGrid's public key.
    sns_topic_arns: tuple[str, ...] = ()
    sns_cert_hosts: tuple[str, ...] = ()
    sns_allow_http: bool = False
    sendgrid_webhook_public_key: str | None = None
    # Sends one sending worker process keeps in flight (its thread pool, its SMTP connections,
    # its HTTP pools): about target rate x provider latency, e.g. 500/s x 0.1 s = 50.
    send_concurrency: int = 50
    # How long a send claim is trusted before a redelivered task may take it over; None
    # derives it from the configured providers' timeouts (what one failover walk can take).
    claim_lease_seconds: float | None = None
    # `mailroom domains check` asks this DNS server (HOST or HOST:PORT) instead of the system's.
    dns_nameserver: str | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process from the environment (after loading `.env` if present)."""
    load_dotenv(os.environ.get("MAILROOM_ENV_FILE", ".env"), override=False)
    var_dir = _var_dir()
    return Settings(
        database_url=_str("DATABASE_URL") or f"sqlite:///{var_dir / 'mailroom.sqlite3'}",
        broker_url=_str("BROKER_URL") or "filesystem://",
        var_dir=var_dir,
        email_providers=_list("EMAIL_PROVIDERS", "outbox"),
        default_from=_str("DEFAULT_FROM"),
        smtp=SmtpSettings(
            host=_str("SMTP_HOST", "localhost") or "localhost",
            port=_int("SMTP_PORT", 25),
            username=_str("SMTP_USERNAME"),
            password=_str("SMTP_PASSWORD"),
            starttls=_bool("SMTP_STARTTLS", False),
            ssl=_bool("SMTP_SSL", False),
            timeout=_float("SMTP_TIMEOUT", 30.0),
            dkim_selector=_str("SMTP_DKIM_SELECTOR"),
            dkim_domain=_str("SMTP_DKIM_DOMAIN"),
            dkim_private_key=_str("SMTP_DKIM_PRIVATE_KEY"),
        ),
        ses=SesSettings(
            region=_str("SES_REGION"),
            endpoint_url=_str("SES_ENDPOINT_URL"),
            configuration_set=_str("SES_CONFIGURATION_SET"),
            connect_timeout=_float("SES_CONNECT_TIMEOUT", 5.0),
            read_timeout=_float("SES_READ_TIMEOUT", 30.0),
        ),
        sendgrid=SendGridSettings(
            api_key=_str("SENDGRID_API_KEY"),
            host=_str("SENDGRID_HOST", "https://api.sendgrid.com") or "https://api.sendgrid.com",
            timeout=_float("SENDGRID_TIMEOUT", 30.0),
        ),
        gcs_project=_str("GCS_PROJECT"),
        outbox_dir=Path(_str("OUTBOX_DIR") or var_dir / "outbox").resolve(),
        storage_backend=(_str("STORAGE_BACKEND", "local") or "local").lower(),
        storage_local_root=Path(_str("STORAGE_LOCAL_ROOT") or var_dir / "storage").resolve(),
        max_attachments_bytes=_int("MAX_ATTACHMENTS_BYTES", 7 * MB),
        uploads_bucket=_str("MAILROOM_UPLOADS_BUCKET", "mailroom-uploads") or "mailroom-uploads",
        denied_attachment_extensions=_optional_list("MAILROOM_DENIED_ATTACHMENT_EXTENSIONS"),
        denied_attachment_types=_optional_list("MAILROOM_DENIED_ATTACHMENT_TYPES"),
        queue_name=_str("MAILROOM_QUEUE", "mailroom") or "mailroom",
        queue_type=(_str("MAILROOM_QUEUE_TYPE", "classic") or "classic").lower(),
        sweep_lease_seconds=_float("MAILROOM_SWEEP_LEASE_SECONDS", 300.0),
        sweep_interval_seconds=_float("MAILROOM_SWEEP_INTERVAL_SECONDS", 30.0),
        send_max_retries=_int("MAILROOM_SEND_MAX_RETRIES", 8),
        retry_backoff_seconds=_float("MAILROOM_RETRY_BACKOFF_SECONDS", 2.0),
        retry_backoff_max_seconds=_float("MAILROOM_RETRY_BACKOFF_MAX_SECONDS", 600.0),
        provider_cooldown_seconds=_float("MAILROOM_PROVIDER_COOLDOWN_SECONDS", 60.0),
        circuit_failure_threshold=_int("MAILROOM_CIRCUIT_FAILURES", 5),
        provider_rates=os.environ.get("MAILROOM_PROVIDER_RATES", ""),
        publish_timeout_seconds=_float("MAILROOM_PUBLISH_TIMEOUT_SECONDS", 3.0),
        # An empty MAILROOM_RATE_LIMIT turns limiting off (benchmarks, trusted networks).
        rate_limit=os.environ.get("MAILROOM_RATE_LIMIT", "100/second").strip(),
        rate_limit_storage_uri=_str("RATELIMIT_STORAGE_URI", "memory://") or "memory://",
        max_request_bytes=_int("MAILROOM_MAX_REQUEST_BYTES", 10 * MB),
        max_recipients=_int("MAILROOM_MAX_RECIPIENTS", 50),
        sns_topic_arns=tuple(
            a.strip() for a in os.environ.get("MAILROOM_SNS_TOPIC_ARNS", "").split(",") if a.strip()
        ),
        sns_cert_hosts=_list("MAILROOM_SNS_CERT_HOSTS", ""),
        sns_allow_http=_bool("MAILROOM_SNS_ALLOW_HTTP", False),
        sendgrid_webhook_public_key=_str("SENDGRID_WEBHOOK_PUBLIC_KEY"),
        send_concurrency=_int("MAILROOM_SEND_CONCURRENCY", 50),
        claim_lease_seconds=_float("MAILROOM_CLAIM_LEASE_SECONDS", 0.0) or None,
        dns_nameserver=_str("MAILROOM_DNS_NAMESERVER"),
    )
