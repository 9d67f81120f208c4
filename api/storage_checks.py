"""Checking attachment keys against object storage while the request is still open."""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app

from api.errors import ApiError, BadRequest, ServiceUnavailable
from storage import InvalidKey, ObjectNotFound, ObjectStorage, StorageError
from storage.hygiene import AttachmentDenied, AttachmentPolicy


class AttachmentsTooLarge(ApiError):
    """The attachments add up to more than MAX_ATTACHMENTS_BYTES."""

    status = 413


def check_attachments(
    storage: ObjectStorage,
    keys: Iterable[str],
    *,
    policy: AttachmentPolicy | None = None,
    max_total_bytes: int | None = None,
) -> int:
    """Every key must name an allowed object now; their total size, within the limit.

    The policy and the limit default to the app's (MAILROOM_DENIED_ATTACHMENT_*,
    MAX_ATTACHMENTS_BYTES): sizes known at the request are refused with a 413 right away.
    """
    policy = policy or current_app.extensions["mailroom.attachment_policy"]
    if max_total_bytes is None:
        max_total_bytes = current_app.config["MAX_ATTACHMENTS_BYTES"]
    total = 0
    for key in keys:
        try:
            info = storage.stat(key)
            policy.check_name(key, key.rsplit("/", 1)[-1])
        except ObjectNotFound as err:
            raise BadRequest(f"attachment `{key}` not found") from err
        except (InvalidKey, AttachmentDenied) as err:
            raise BadRequest(str(err)) from err
        except StorageError as err:
            raise ServiceUnavailable(f"object storage unavailable: {err}") from err
        total += info.size
    if total > max_total_bytes:
        raise AttachmentsTooLarge(
            f"attachments total {total} bytes, over the limit of {max_total_bytes} bytes"
        )
    return total
