"""The object storage interface: attachments are addressed by keys of the form `bucket/path`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class StorageError(Exception):
    """Base of every storage failure; carries the key it concerns."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ObjectNotFound(StorageError):
    """No object is stored under the key."""


class InvalidKey(StorageError):
    """The key is not of the form `bucket/path`, or tries to leave its bucket."""


@dataclass(frozen=True)
class ObjectInfo:
    """What storage knows of an object without reading it."""

    key: str
    size: int
    content_type: str | None = None


class ObjectStorage(Protocol):
    """Read and write objects by key; every implementation bounds its network calls."""

    def stat(self, key: str) -> ObjectInfo:
        """Size and type of the object; raises `ObjectNotFound`."""
        ...

    def read(self, key: str) -> bytes:
        """The object's bytes; raises `ObjectNotFound`."""
        ...

    def write(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        """Store `data` under `key`, replacing what was there."""
        ...


def split_key(key: str) -> tuple[str, str]:
    """`bucket/path/to/file` -> (`bucket`, `path/to/file`), refusing empty or escaping parts."""
    bucket, sep, path = key.strip().partition("/")
    parts = path.split("/")
    # The bucket is a path segment too: `../x` must not climb out of the storage root.
    if not sep or not path or any(p in {"", ".", ".."} for p in [bucket, *parts]):
        raise InvalidKey(f"`{key}` is not a valid object key (expected bucket/path)", key=key)
    if any(ord(ch) < 32 for ch in key) or "\\" in key:
        raise InvalidKey(f"`{key}` is not a valid object key", key=key)
    return bucket, path
