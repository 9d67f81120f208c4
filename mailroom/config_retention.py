"""The retention settings: how long emails' content and records are kept, and how the purge runs.

Content (rendered bodies, variables, the attachment manifest, GoMail uploads) goes first; the
record (status, events, attempts, recipients, tags) later, so lists and statistics outlive the
bodies. Only final emails are purged; see docs/deployment.md, "Retention".
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationInfo, field_validator

from mailroom.setting_fields import _Section, setting


class RetentionSettings(_Section):
    """Retention; what the purge (beat, or `mailroom purge`) removes and how it paces itself."""

    content_days: int = setting(
        30,
        "MAILROOM_RETENTION_DAYS",
        "days a final email's content (bodies, variables, attachments) is kept; 0: forever",
    )
    record_days: int = setting(
        365,
        "MAILROOM_RECORD_RETENTION_DAYS",
        "days a final email's record (status, events, attempts) is kept; 0: forever",
    )
    interval_seconds: float = setting(
        300.0, "MAILROOM_PURGE_INTERVAL_SECONDS", "how often beat runs the retention purge"
    )
    batch_size: int = setting(
        500, "MAILROOM_PURGE_BATCH_SIZE", "rows the purge changes per transaction (its lock span)"
    )
    max_seconds: float = setting(
        60.0,
        "MAILROOM_PURGE_MAX_SECONDS",
        "longest one purge run; what is left waits for the next run",
    )

    @field_validator("content_days", "record_days")
    @classmethod
    def _days(cls, value: int, info: ValidationInfo) -> int:
        if value < 0:
            raise ValueError("expected a number of days, 0 for forever")
        content = info.data.get("content_days", 0)
        if info.field_name == "record_days" and value and content and value < content:
            raise ValueError(f"expected 0 or at least MAILROOM_RETENTION_DAYS ({content})")
        return value

    @field_validator("interval_seconds", "batch_size", "max_seconds")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("expected a number above 0")
        return value

    @property
    def content_age(self) -> timedelta | None:
        """Age past which content is purged; None: kept forever."""
        return timedelta(days=self.content_days) if self.content_days else None

    @property
    def record_age(self) -> timedelta | None:
        """Age past which records are purged; None: kept forever."""
        return timedelta(days=self.record_days) if self.record_days else None
