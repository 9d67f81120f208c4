"""Check and describe an email's attachments before anything is sent."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Sequence
from typing import Any

from storage import ObjectNotFound, ObjectStorage

_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\\"]+")


class AttachmentsRefused(Exception):
    """The attachments cannot be sent: one is missing, or together they are too large."""


def clean_filename(key: str) -> str:
    """The last part of the key, without control characters, quotes or path separators."""
    name = key.rsplit("/", 1)[-1]
    name = _UNSAFE_FILENAME.sub("_", name).strip(" .")
    return name or "attachment"


def build_manifest(
    storage: ObjectStorage, keys: Sequence[str], max_total_bytes: int
) -> list[dict[str, Any]]:
    """Stat every key and describe it; refuse a missing object or a total over the limit."""
    manifest: list[dict[str, Any]] = []
    total = 0
    for key in keys:
        try:
            info = storage.stat(key)
        except ObjectNotFound as err:
            raise AttachmentsRefused(f"attachment `{key}` not found") from err
        total += info.size
        filename = clean_filename(key)
        content_type = (
            info.content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        manifest.append(
            {"key": key, "filename": filename, "contentType": content_type, "size": info.size}
        )
    if total > max_total_bytes:
        raise AttachmentsRefused(
            f"attachments total {total} bytes, over the limit of {max_total_bytes} bytes"
        )
    return manifest
