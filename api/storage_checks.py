"""Checking attachment keys against object storage while the request is still open."""

from __future__ import annotations

from collections.abc import Iterable

from api.errors import BadRequest, ServiceUnavailable
from storage import InvalidKey, ObjectNotFound, ObjectStorage, StorageError


def check_attachments(storage: ObjectStorage, keys: Iterable[str]) -> None:
    """Every key must name an object now: a 400 names the first that does not."""
    for key in keys:
        try:
            storage.stat(key)
        except ObjectNotFound as err:
            raise BadRequest(f"attachment `{key}` not found") from err
        except InvalidKey as err:
            raise BadRequest(str(err)) from err
        except StorageError as err:
            raise ServiceUnavailable(f"object storage unavailable: {err}") from err
