"""Check and describe an email's attachments before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage import ObjectNotFound, ObjectStorage, clean_filename
from storage.hygiene import SNIFF_BYTES, AttachmentDenied, AttachmentPolicy, sniff_content_type


class AttachmentsRefused(Exception):
    """The attachments cannot be sent: missing, dangerous, or together too large."""


def build_manifest(
    storage: ObjectStorage,
    keys: Sequence[str],
    max_total_bytes: int,
    policy: AttachmentPolicy | None = None,
) -> list[dict[str, Any]]:
    """Describe every attachment by its bytes; refuse missing, denied or oversized ones.

    The content type comes from the object's first bytes (an executable renamed .pdf is still
    an executable), falling back to what storage or the name say.
    """
    policy = policy or AttachmentPolicy()
    manifest: list[dict[str, Any]] = []
    total = 0
    for key in keys:
        try:
            info = storage.stat(key)
            head = storage.read_head(key, SNIFF_BYTES)
        except ObjectNotFound as err:
            raise AttachmentsRefused(f"attachment `{key}` not found") from err
        total += info.size
        filename = clean_filename(key)
        sniffed = sniff_content_type(head, filename)
        content_type = (
            info.content_type
            if sniffed == "application/octet-stream" and info.content_type
            else sniffed
        )
        try:
            policy.check_name(key, filename)
            policy.check_type(key, content_type)
        except AttachmentDenied as err:
            raise AttachmentsRefused(str(err)) from err
        manifest.append(
            {"key": key, "filename": filename, "contentType": content_type, "size": info.size}
        )
    if total > max_total_bytes:
        raise AttachmentsRefused(
            f"attachments total {total} bytes, over the limit of {max_total_bytes} bytes"
        )
    return manifest
