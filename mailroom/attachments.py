"""The attachment policy as configured (shared by the API's checks and the workers')."""

from __future__ import annotations

from mailroom.config import Settings
from storage.hygiene import DEFAULT_DENIED_EXTENSIONS, DEFAULT_DENIED_TYPES, AttachmentPolicy


def attachment_policy(settings: Settings) -> AttachmentPolicy:
    """Deny lists from MAILROOM_DENIED_ATTACHMENT_EXTENSIONS/_TYPES, or the defaults."""
    return AttachmentPolicy.from_lists(
        settings.denied_attachment_extensions
        if settings.denied_attachment_extensions is not None
        else DEFAULT_DENIED_EXTENSIONS,
        settings.denied_attachment_types
        if settings.denied_attachment_types is not None
        else DEFAULT_DENIED_TYPES,
    )


def allowed_buckets(settings: Settings) -> tuple[str, ...]:
    """Buckets attachments may come from: MAILROOM_ALLOWED_BUCKETS and the uploads bucket;
    empty (any bucket) when MAILROOM_ALLOWED_BUCKETS is unset (local storage only)."""
    if not settings.allowed_buckets:
        return ()
    return (*settings.allowed_buckets, settings.uploads_bucket)
