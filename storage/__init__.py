"""Object storage for attachments; knows nothing of HTTP, Celery or the database."""

from __future__ import annotations

from pathlib import Path

from storage.base import InvalidKey, ObjectInfo, ObjectNotFound, ObjectStorage, StorageError
from storage.local import LocalStorage

__all__ = [
    "InvalidKey",
    "LocalStorage",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStorage",
    "StorageError",
    "build_storage",
]


def build_storage(backend: str, *, local_root: Path) -> ObjectStorage:
    """The storage named by `STORAGE_BACKEND`."""
    if backend == "local":
        return LocalStorage(local_root)
    raise StorageError(f"unknown storage backend `{backend}` (known: local)")
