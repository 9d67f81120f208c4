"""Object storage for attachments; knows nothing of HTTP, Celery or the database."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from storage.allowed import AllowedBuckets, BucketNotAllowed
from storage.base import (
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStorage,
    StorageError,
    clean_filename,
)
from storage.local import LocalStorage

__all__ = [
    "AllowedBuckets",
    "BucketNotAllowed",
    "InvalidKey",
    "LocalStorage",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStorage",
    "StorageError",
    "build_storage",
    "clean_filename",
]


def build_storage(
    backend: str,
    *,
    local_root: Path,
    gcs_project: str | None = None,
    allowed_buckets: Collection[str] = (),
) -> ObjectStorage:
    """The storage named by `STORAGE_BACKEND`, limited to `allowed_buckets` when given;
    nothing connects until the first call."""
    storage = _backend(backend, local_root, gcs_project)
    return AllowedBuckets(storage, allowed_buckets) if allowed_buckets else storage


def _backend(backend: str, local_root: Path, gcs_project: str | None) -> ObjectStorage:
    if backend == "local":
        return LocalStorage(local_root)
    if backend == "gcs":
        # Imported here so that processes on local storage never load the Google libraries.
        from storage.gcs import GcsStorage

        return GcsStorage(gcs_project)
    raise StorageError(f"unknown storage backend `{backend}` (known: local, gcs)")
