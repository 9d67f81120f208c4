"""Check and describe an email's attachments before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage import InvalidKey, ObjectNotFound, ObjectStorage, clean_filename
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
        except InvalidKey as err:  # a bucket not allowed (MAILROOM_ALLOWED_BUCKETS)
            raise AttachmentsRefused(str(err)) from err
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


def read_as_described(storage: ObjectStorage, item: dict[str, Any]) -> bytes:
    """The bytes of a manifest's attachment, refused if the object changed since it was
    described: another size, or content of another type (its owner can rewrite it between
    the check and the send). Never reads more than the described size and one byte."""
    key = item["key"]
    try:
        data = storage.read_head(key, item["size"] + 1)
    except ObjectNotFound as err:
        raise AttachmentsRefused(f"attachment `{key}` not found") from err
    if len(data) != item["size"]:
        now = f"more than {item['size']}" if len(data) > item["size"] else str(len(data))
        raise AttachmentsRefused(
            f"attachment `{key}` changed after it was checked "
            f"({item['size']} bytes then, {now} bytes now)"
        )
    sniffed = sniff_content_type(data[:SNIFF_BYTES], item["filename"])
    if sniffed not in {item["contentType"], "application/octet-stream"}:
        raise AttachmentsRefused(
            f"attachment `{key}` changed after it was checked "
            f"({item['contentType']} then, {sniffed} now)"
        )
    return data
