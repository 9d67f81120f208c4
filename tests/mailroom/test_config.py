"""Settings: typed, named in their errors, every one described in .env.example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailroom import config_example
from mailroom.config import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
# Read from the environment outside Settings on purpose: test hooks and a test emulator's.
NOT_SETTINGS = {"MAILROOM_TEST_CRASH_AFTER_COMMIT", "STORAGE_EMULATOR_HOST"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting of the surrounding environment leaks into these tests."""
    for name in config_example.names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAILROOM_VAR_DIR", str(tmp_path / "var"))


def test_env_example_is_the_generated_one() -> None:
    written = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert written == config_example.render(), (
        "regenerate it: mailroom config example > .env.example"
    )


def test_every_setting_is_in_env_example_with_a_one_line_description() -> None:
    written = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^# ([A-Z][A-Z0-9_]+)=", written, flags=re.MULTILINE))
    names = config_example.names()
    assert len(names) == len(set(names)), "a variable is declared twice"
    assert set(names) <= documented, set(names) - documented
    for name in ("SES_REGION", "SENDGRID_API_KEY", "MAILROOM_SNS_TOPIC_ARNS"):
        assert name in documented
    assert "MAILROOM_PROVIDER_RATES" in documented
    sections = [Settings, *(f.default_factory for f in Settings.model_fields.values())]
    for section in sections:
        for field in getattr(section, "model_fields", {}).values():
            if field.validation_alias:
                assert field.description and "\n" not in field.description, field


def test_every_variable_the_code_reads_is_a_setting() -> None:
    pattern = re.compile(r"""environ(?:\.get)?[\[(]\s*["']([A-Z][A-Z0-9_]+)["']""")
    read = set()
    for package in ("api", "tasks", "mailroom", "models", "providers", "render", "storage"):
        for path in (ROOT / package).rglob("*.py"):
            read |= set(pattern.findall(path.read_text(encoding="utf-8")))
    assert read - NOT_SETTINGS <= set(config_example.names()), read - set(config_example.names())


def test_defaults_and_the_attribute_interface(tmp_path: Path) -> None:
    settings = load_settings()
    var = (tmp_path / "var").resolve()
    assert settings.database_url == f"sqlite:///{var / 'mailroom.sqlite3'}"
    assert settings.broker_url == "filesystem://"
    assert settings.outbox_dir == var / "outbox"
    assert settings.storage_local_root == var / "storage"
    assert settings.email_providers == ("outbox",)
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.starttls) == (
        "localhost",
        25,
        False,
    )
    assert settings.ses.region is None and settings.sendgrid.host == "https://api.sendgrid.com"
    assert settings.denied_attachment_types is None and settings.rate_limit == "100/second"
    assert settings.worker_metrics_port is None


def test_values_parse_to_their_types(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SMTP_PORT": "587",
        "SMTP_STARTTLS": "yes",
        "SMTP_SSL": "0",
        "EMAIL_PROVIDERS": " SES, smtp ,",
        "MAILROOM_SNS_TOPIC_ARNS": "arn:aws:sns:eu-west-1:1:Topic",
        "MAILROOM_QUEUE_TYPE": "Quorum",
        "STORAGE_BACKEND": "GCS",
        "MAILROOM_ALLOWED_BUCKETS": "Invoices, reports",
        "MAILROOM_UPLOADS_BUCKET": "acme-mailroom-uploads",
        "MAILROOM_PROVIDER_RATES": "ses=14,sendgrid=0.5",
        "SES_READ_TIMEOUT": "2.5",
        "LOG_LEVEL": "debug",
        "SMTP_HOST": "",  # blank: the default
        "MAILROOM_RATE_LIMIT": "",  # blank: no limit
        "MAILROOM_DENIED_ATTACHMENT_TYPES": "",  # blank: deny none
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert (settings.smtp.port, settings.smtp.starttls, settings.smtp.ssl) == (587, True, False)
    assert settings.email_providers == ("ses", "smtp")
    assert settings.sns_topic_arns == ("arn:aws:sns:eu-west-1:1:Topic",)  # case kept
    assert (settings.queue_type, settings.storage_backend) == ("quorum", "gcs")
    assert settings.ses.read_timeout == 2.5 and settings.log_level == "DEBUG"
    assert settings.smtp.host == "localhost"
    assert settings.rate_limit == "" and settings.denied_attachment_types == ()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SMTP_PORT", "abc", "SMTP_PORT=abc is not valid: expected a whole number"),
        (
            "SMTP_STARTTLS",
            "ture",
            "SMTP_STARTTLS=ture is not valid: expected true or false (also 1/0, yes/no, on/off)",
        ),
        ("SES_CONNECT_TIMEOUT", "soon", "SES_CONNECT_TIMEOUT=soon is not valid: expected a number"),
        ("STORAGE_BACKEND", "s3", "STORAGE_BACKEND=s3 is not valid: expected one of local or gcs"),
        (
            "MAILROOM_QUEUE_TYPE",
            "stream",
            "MAILROOM_QUEUE_TYPE=stream is not valid: expected classic or quorum",
        ),
        (
            "MAILROOM_PROVIDER_RATES",
            "ses:14",
            "MAILROOM_PROVIDER_RATES=ses:14 is not valid: "
            "expected provider=emails per second, e.g. ses=14,sendgrid=100",
        ),
        (
            "MAILROOM_RATE_LIMIT",
            "lots",
            "MAILROOM_RATE_LIMIT=lots is not valid: "
            "expected a limit such as 100/second or 1000/minute",
        ),
        (
            "MAILROOM_TRACKING_SECRET",
            "short",  # never repeated in the message
            "settings are not valid: expected MAILROOM_TRACKING_SECRET of at least 32 characters",
        ),
        (
            "MAILROOM_TRACKING_CLICKS",
            "true",
            "settings are not valid: expected MAILROOM_TRACKING_OPENS and _CLICKS need "
            "MAILROOM_TRACKING_URL and _SECRET",
        ),
        (
            "MAILROOM_TRACKING_URL",
            "track.example.com",
            "MAILROOM_TRACKING_URL=track.example.com is not valid: "
            "expected an http:// or https:// URL",
        ),
        (
            "MAILROOM_WORKER_METRICS_PORT",
            "9808x",
            "MAILROOM_WORKER_METRICS_PORT=9808x is not valid: expected a whole number",
        ),
    ],
)
def test_a_bad_value_names_the_variable_and_the_form(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value) == expected


def test_every_bad_value_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PORT", "abc")
    monkeypatch.setenv("SENDGRID_TIMEOUT", "x")
    monkeypatch.setenv("MAILROOM_MAX_RECIPIENTS", "many")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert [part.split("=")[0] for part in message.split("; ")] == [
        "SMTP_PORT",
        "SENDGRID_TIMEOUT",
        "MAILROOM_MAX_RECIPIENTS",
    ]


def test_secrets_stay_out_of_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "SMTP_PASSWORD": "hunter2-pw",
        "SENDGRID_API_KEY": "SG.secret-key",
        "SMTP_DKIM_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----dkim-secret",
        "DATABASE_URL": "postgresql+psycopg://mailroom:db-secret@db/mailroom",
        "BROKER_URL": "amqp://mailroom:broker-secret@rabbitmq//",
        "RATELIMIT_STORAGE_URI": "redis://:redis-secret@redis:6379",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.smtp.password == "hunter2-pw"
    assert settings.database_url == secrets["DATABASE_URL"]
    shown = repr(settings) + str(settings) + repr(settings.smtp) + repr(settings.sendgrid)
    for word in (
        "hunter2",
        "SG.secret",
        "dkim-secret",
        "db-secret",
        "broker-secret",
        "redis-secret",
    ):
        assert word not in shown


def test_only_the_exact_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """`port`, `host` or `smtp_port` in the environment are somebody else's."""
    for name in ("port", "host", "smtp_port", "database_url", "Smtp_Port"):
        monkeypatch.setenv(name, "1")
    settings = load_settings()
    assert (settings.smtp.port, settings.smtp.host) == (25, "localhost")
    assert settings.database_url.startswith("sqlite:///")


def test_gcs_needs_its_buckets_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_BACKEND", "gcs")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    for name in ("MAILROOM_ALLOWED_BUCKETS", "MAILROOM_UPLOADS_BUCKET"):
        assert f"{name}= is not valid: expected the name of a bucket of yours" in str(caught.value)
    monkeypatch.setenv("MAILROOM_ALLOWED_BUCKETS", "invoices")
    monkeypatch.setenv("MAILROOM_UPLOADS_BUCKET", "acme-uploads")
    settings = load_settings()
    assert (settings.allowed_buckets, settings.uploads_bucket) == (("invoices",), "acme-uploads")


def test_local_storage_needs_no_bucket_names(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.allowed_buckets, settings.uploads_bucket) == ((), "mailroom-uploads")
