"""Every setting Mailroom reads, from the environment (and an optional `.env`), in one place.

Each setting is a typed pydantic-settings field named by its environment variable, with a
one-line description; `.env.example` is generated from these definitions
(`mailroom config example`) and a test keeps the two equal. A value that does not parse is a
`SettingsError` naming the variable and the form it expects: `SMTP_PORT=abc` or
`SMTP_STARTTLS=ture` stop the process instead of meaning something else.

The names are part of the public contract (see CONTRACT.md, "Configuration"); defaults give the
embedded setup: SQLite and a filesystem broker under `var/`, and the local outbox provider.
A blank value means the default, except where a description says what blank means.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from dotenv import load_dotenv
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from mailroom.config_retention import RetentionSettings
from mailroom.config_tracking import TrackingSettings
from mailroom.config_unsubscribe import UnsubscribeSettings
from mailroom.setting_errors import describe_error
from mailroom.setting_fields import Items, LogLevel, Lower, Names, _Section, setting

MB = 1024 * 1024
# Uploads on local storage, when MAILROOM_UPLOADS_BUCKET is unset: a folder, owned by no one else.
LOCAL_UPLOADS = "mailroom-uploads"


class SettingsError(ValueError):
    """One or more settings do not parse; the message names each variable and what it expects."""


class SmtpSettings(_Section):
    """The `smtp` provider."""

    host: str = setting(
        "localhost", "SMTP_HOST", "SMTP server host name", example="smtp.example.com"
    )
    port: int = setting(25, "SMTP_PORT", "SMTP server port (587 with STARTTLS, 465 with SSL)")
    username: str | None = setting(None, "SMTP_USERNAME", "SMTP login; unset: no AUTH")
    password: str | None = setting(None, "SMTP_PASSWORD", "SMTP password", secret=True)
    starttls: bool = setting(False, "SMTP_STARTTLS", "upgrade the connection with STARTTLS")
    ssl: bool = setting(False, "SMTP_SSL", "connect with TLS from the start (SMTPS)")
    timeout: float = setting(30.0, "SMTP_TIMEOUT", "seconds to wait on the SMTP server")
    # DKIM signing: all three or none.
    dkim_selector: str | None = setting(
        None, "SMTP_DKIM_SELECTOR", "DKIM selector the smtp provider signs with", example="mail"
    )
    dkim_domain: str | None = setting(
        None, "SMTP_DKIM_DOMAIN", "DKIM signing domain (d=)", example="example.com"
    )
    dkim_private_key: str | None = setting(
        None,
        "SMTP_DKIM_PRIVATE_KEY",
        "DKIM private key: a PEM, or the path of a PEM file",
        secret=True,
    )


class SesSettings(_Section):
    """The `ses` provider; region and credentials default to boto3's own (AWS_REGION, ...)."""

    region: str | None = setting(None, "SES_REGION", "SES region; unset: boto3's AWS_REGION")
    endpoint_url: str | None = setting(
        None, "SES_ENDPOINT_URL", "SES API URL; unset: AWS's (set it for a local test server)"
    )
    configuration_set: str | None = setting(
        None, "SES_CONFIGURATION_SET", "SES configuration set that publishes delivery events"
    )
    connect_timeout: float = setting(5.0, "SES_CONNECT_TIMEOUT", "seconds to connect to SES")
    read_timeout: float = setting(30.0, "SES_READ_TIMEOUT", "seconds to wait for SES' answer")


class SendGridSettings(_Section):
    """The `sendgrid` provider."""

    api_key: str | None = setting(
        None, "SENDGRID_API_KEY", "SendGrid API key (mail send scope)", secret=True
    )
    host: str = setting("https://api.sendgrid.com", "SENDGRID_HOST", "SendGrid API base URL")
    timeout: float = setting(30.0, "SENDGRID_TIMEOUT", "seconds to wait for SendGrid's answer")


_RATE = re.compile(r"^\s*[A-Za-z0-9_-]+\s*=\s*(\d+(\.\d*)?|\.\d+)\s*$")


class Settings(_Section):
    """Every setting; the providers' own are grouped under `smtp`, `ses` and `sendgrid`."""

    blank_is_value = frozenset(
        {
            "MAILROOM_RATE_LIMIT",
            "MAILROOM_DENIED_ATTACHMENT_EXTENSIONS",
            "MAILROOM_DENIED_ATTACHMENT_TYPES",
        }
    )

    var_dir: Path = setting(
        Path("var"), "MAILROOM_VAR_DIR", "folder for the embedded setup's files (database, broker)"
    )
    database_url: str = setting(
        "",
        "DATABASE_URL",
        "SQLAlchemy database URL; unset: SQLite file var/mailroom.sqlite3",
        example="postgresql+psycopg://mailroom:secret@db.internal:5432/mailroom",
        secret=True,
    )
    broker_url: str = setting(
        "filesystem://",
        "BROKER_URL",
        "Celery broker URL; unset: a filesystem transport under var/ (one host only)",
        example="amqp://mailroom:secret@rabbitmq.internal:5672/mailroom",
        secret=True,
    )
    email_providers: Names = setting(
        ("outbox",), "EMAIL_PROVIDERS", "providers tried in order: ses, sendgrid, smtp, outbox"
    )
    default_from: str | None = setting(
        None,
        "DEFAULT_FROM",
        "sender used when a request has none",
        example="Mailroom <noreply@example.com>",
    )
    sendgrid_webhook_public_key: str | None = setting(
        None, "SENDGRID_WEBHOOK_PUBLIC_KEY", "SendGrid's Event Webhook verification key (base64)"
    )
    sns_topic_arns: Items = setting(
        (),
        "MAILROOM_SNS_TOPIC_ARNS",
        "SNS topic ARNs the SES webhook accepts, comma-separated; unset: it refuses everything",
        example="arn:aws:sns:eu-west-1:123456789012:mailroom-events",
    )
    sns_cert_hosts: Names = setting(
        (), "MAILROOM_SNS_CERT_HOSTS", "exact SNS hosts (host, or host:port); unset: AWS's"
    )
    sns_allow_http: bool = setting(
        False, "MAILROOM_SNS_ALLOW_HTTP", "accept SNS certificates over http (local tests only)"
    )
    outbox_dir: Path = setting(
        Path(""), "OUTBOX_DIR", "where the outbox provider writes .eml files; unset: var/outbox"
    )
    storage_backend: Literal["local", "gcs"] = setting(
        "local", "STORAGE_BACKEND", "object storage for attachments: local or gcs"
    )
    storage_local_root: Path = setting(
        Path(""), "STORAGE_LOCAL_ROOT", "for local: key bucket/path is <root>/bucket/path"
    )
    gcs_project: str | None = setting(
        None, "GCS_PROJECT", "for gcs: Google Cloud project; unset: the credentials' project"
    )
    max_attachments_bytes: int = setting(
        7 * MB, "MAX_ATTACHMENTS_BYTES", "total attachment size allowed per email, in bytes"
    )
    allowed_buckets: Names = setting(
        (),
        "MAILROOM_ALLOWED_BUCKETS",
        "buckets attachments may come from, comma-separated (required with gcs); "
        "unset on local: any",
        example="invoices,reports",
        checked=True,
    )
    uploads_bucket: str = setting(
        "",
        "MAILROOM_UPLOADS_BUCKET",
        "bucket of yours for files uploaded with a request (GoMail endpoint), always allowed; "
        "required with gcs; unset on local: mailroom-uploads",
        checked=True,
    )
    denied_attachment_extensions: Names | None = setting(
        None,
        "MAILROOM_DENIED_ATTACHMENT_EXTENSIONS",
        "refused attachment extensions, comma-separated; unset: executables; blank: none",
    )
    denied_attachment_types: Names | None = setting(
        None,
        "MAILROOM_DENIED_ATTACHMENT_TYPES",
        "refused attachment MIME types, comma-separated; unset: executables; blank: none",
    )
    max_request_bytes: int = setting(
        10 * MB, "MAILROOM_MAX_REQUEST_BYTES", "largest request body the API accepts, in bytes"
    )
    max_recipients: int = setting(
        50, "MAILROOM_MAX_RECIPIENTS", "most to+cc+bcc addresses on one email"
    )
    rate_limit: str = setting(
        "100/second",
        "MAILROOM_RATE_LIMIT",
        "requests allowed per API key (e.g. 100/second); blank: no limit",
    )
    trusted_proxies: int = setting(
        0,
        "MAILROOM_TRUSTED_PROXIES",
        "proxies in front of the API whose X-Forwarded-For and -Proto are trusted (the client "
        "address rate limits use); 0: none, the peer's address",
    )
    rate_limit_storage_uri: str = setting(
        "memory://",
        "RATELIMIT_STORAGE_URI",
        "where rate-limit counters live; memory:// counts per process, redis:// shares them",
        example="redis://redis:6379",
        secret=True,
    )
    publish_timeout_seconds: float = setting(
        3.0, "MAILROOM_PUBLISH_TIMEOUT_SECONDS", "publishes give up after this; the sweeper retries"
    )
    queue_name: str = setting("mailroom", "MAILROOM_QUEUE", "the Celery queue the pipeline uses")
    queue_type: Lower = setting(
        "classic", "MAILROOM_QUEUE_TYPE", "RabbitMQ queue type: classic or quorum"
    )
    sweep_lease_seconds: float = setting(
        300.0, "MAILROOM_SWEEP_LEASE_SECONDS", "an email in flight this long is re-published"
    )
    sweep_interval_seconds: float = setting(
        30.0, "MAILROOM_SWEEP_INTERVAL_SECONDS", "how often beat runs the sweeper, in seconds"
    )
    send_max_retries: int = setting(
        8, "MAILROOM_SEND_MAX_RETRIES", "tries after the first before an email ends failed"
    )
    retry_backoff_seconds: float = setting(
        2.0, "MAILROOM_RETRY_BACKOFF_SECONDS", "first retry delay; doubles each try, with jitter"
    )
    retry_backoff_max_seconds: float = setting(
        600.0, "MAILROOM_RETRY_BACKOFF_MAX_SECONDS", "longest retry delay, in seconds"
    )
    provider_cooldown_seconds: float = setting(
        60.0, "MAILROOM_PROVIDER_COOLDOWN_SECONDS", "a misconfigured provider is skipped this long"
    )
    circuit_failure_threshold: int = setting(
        5, "MAILROOM_CIRCUIT_FAILURES", "failures in a row that open a provider's circuit"
    )
    provider_rates: str = setting(
        "",
        "MAILROOM_PROVIDER_RATES",
        "emails per second per provider, shared by all workers; unset: no cap",
        example="ses=14,sendgrid=100",
    )
    worker_metrics_port: int | None = setting(
        None,
        "MAILROOM_WORKER_METRICS_PORT",
        "a Celery worker serves its metrics on this port (GET /metrics); unset: none",
        example="9808",
    )
    log_level: LogLevel = setting(
        "INFO", "LOG_LEVEL", "least severe log level written: DEBUG, INFO, WARNING or ERROR"
    )
    send_concurrency: int = setting(
        50,
        "MAILROOM_SEND_CONCURRENCY",
        "sends one sending worker keeps in flight (its threads, SMTP connections, HTTP pools): "
        "about target rate x provider latency, e.g. 500/s x 0.1 s = 50",
    )
    claim_lease_seconds: float | None = setting(
        None,
        "MAILROOM_CLAIM_LEASE_SECONDS",
        "a send claim held this long may be taken over; unset: the providers' timeouts + 10 s",
    )
    render_time_limit_seconds: float | None = setting(
        None,
        "MAILROOM_RENDER_TIME_LIMIT_SECONDS",
        "a worker's render of one email stops after this long and the email fails; "
        "unset: two render budgets + 20 s (30 s)",
    )
    dns_nameserver: str | None = setting(
        None,
        "MAILROOM_DNS_NAMESERVER",
        "DNS server `mailroom domains check` asks (HOST or HOST:PORT); unset: the system's",
    )
    callbacks_allow_loopback: bool = setting(
        False, "MAILROOM_CALLBACKS_ALLOW_LOOPBACK", "callbacks may reach 127.0.0.1 and ::1 (tests)"
    )
    api_bind: str = setting("127.0.0.1:8000", "API_BIND", "address gunicorn listens on")
    api_workers: int = setting(2, "API_WORKERS", "gunicorn worker processes")
    api_timeout: int = setting(
        30, "API_TIMEOUT", "seconds before gunicorn restarts a worker stuck on one request"
    )
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    ses: SesSettings = Field(default_factory=SesSettings)
    sendgrid: SendGridSettings = Field(default_factory=SendGridSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    unsubscribe: UnsubscribeSettings = Field(default_factory=UnsubscribeSettings)

    @field_validator("storage_backend", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("allowed_buckets", "uploads_bucket")
    @classmethod
    def _buckets(cls, value: Any, info: ValidationInfo) -> Any:
        # On gcs an unset bucket would trust any bucket, or one whose name someone else owns.
        if info.data.get("storage_backend") != "gcs":
            return value or (() if info.field_name == "allowed_buckets" else LOCAL_UPLOADS)
        if not value:
            raise ValueError("the name of a bucket of yours (required with STORAGE_BACKEND=gcs)")
        return value

    @field_validator("queue_type")
    @classmethod
    def _queue_type(cls, value: str) -> str:
        if value not in {"classic", "quorum"}:
            raise ValueError("expected classic or quorum")
        return value

    @field_validator("provider_rates")
    @classmethod
    def _rates(cls, value: str) -> str:
        for part in filter(str.strip, value.split(",")):
            if not _RATE.match(part) or float(part.partition("=")[2]) <= 0:
                raise ValueError("expected provider=emails per second, e.g. ses=14,sendgrid=100")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        value = value.strip()
        if value:
            try:
                parse_many(value)
            except ValueError as err:
                raise ValueError("expected a limit such as 100/second or 1000/minute") from err
        return value

    @model_validator(mode="before")
    @classmethod
    def _folders_under_var(cls, data: Any) -> Any:
        """Paths left unset go under MAILROOM_VAR_DIR; every path is made absolute."""
        if not isinstance(data, dict):
            return data

        data = dict(data)
        var_dir = Path(data.get("MAILROOM_VAR_DIR") or "var").resolve()
        data["MAILROOM_VAR_DIR"] = var_dir
        data.setdefault("DATABASE_URL", f"sqlite:///{var_dir / 'mailroom.sqlite3'}")
        for env, folder in (("OUTBOX_DIR", "outbox"), ("STORAGE_LOCAL_ROOT", "storage")):
            data[env] = Path(data.get(env) or var_dir / folder).resolve()
        return data


def load_settings() -> Settings:
    """Read and check every setting from the environment now; SettingsError names the bad ones."""
    problems: list[str] = []
    sections: dict[str, Any] = {}
    kinds: dict[str, type[_Section]] = {
        "smtp": SmtpSettings,
        "ses": SesSettings,
        "sendgrid": SendGridSettings,
        "retention": RetentionSettings,
        "tracking": TrackingSettings,
        "unsubscribe": UnsubscribeSettings,
    }
    for name, kind in kinds.items():
        try:
            sections[name] = kind()
        except ValidationError as err:
            problems += [describe_error(e) for e in err.errors()]
            sections[name] = kind.model_construct()  # a stand-in, to check the rest
    try:
        settings = Settings(**sections)
    except ValidationError as err:
        aliases = {n: str(f.validation_alias) for n, f in Settings.model_fields.items()}
        problems += [describe_error(e, aliases) for e in err.errors()]
    else:
        embedded = settings.broker_url.startswith("filesystem://")
        problems += filter(None, [settings.unsubscribe.problem(embedded)])
    if problems:
        raise SettingsError("; ".join(problems))
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process from the environment (after loading `.env` if present)."""
    load_dotenv(os.environ.get("MAILROOM_ENV_FILE", ".env"), override=False)
    return load_settings()


def settings_or_exit() -> Settings:
    """The settings, or the process ends with one line naming the bad ones (status 1).

    For the entry points that have no error handling of their own to do it: gunicorn's config
    and Celery's (worker, beat, Flower) both run it before anything else.
    """
    try:
        return get_settings()
    except SettingsError as err:
        raise SystemExit(
            f"mailroom: bad setting: {err}. Fix the environment or .env (see .env.example)."
        ) from None
