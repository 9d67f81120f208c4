"""The object storage interface: attachments are addressed by keys of the form `bucket/path`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\\"]+")
# Under the 255-byte file name limit of common file systems, with room to spare for suffixes.
_MAX_FILENAME_BYTES = 200


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


@dataclass(frozen=True)
class ListedObject:
    """An object found under a prefix, with when it was last written (timezone-aware)."""

    key: str
    updated: datetime


class ObjectStorage(Protocol):
    """Read and write objects by key; every implementation bounds its network calls."""

    def stat(self, key: str) -> ObjectInfo:
        """Size and type of the object; raises `ObjectNotFound`."""
        ...

    def read(self, key: str) -> bytes:
        """The object's bytes; raises `ObjectNotFound`."""
        ...

    def read_head(self, key: str, size: int) -> bytes:
        """The first `size` bytes of the object (all of it when shorter)."""
        ...

    def write(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        """Store `data` under `key`, replacing what was there."""
        ...

    def list(self, prefix: str) -> Iterator[ListedObject]:
        """Every object under the folder `prefix` (`bucket/path/`), in a stable order."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object under `key`; one already gone is not an error."""
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


def clean_filename(name: str) -> str:
    """The last part of a key or of a client's path, without control characters or quotes."""
    # Either separator: old browsers on Windows send the whole path, `C:\Users\ann\report.pdf`.
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE_FILENAME.sub("_", name).strip(" .")
    if len(name.encode()) > _MAX_FILENAME_BYTES:
        stem, dot, suffix = name.rpartition(".")
        if not dot or len(suffix.encode()) > 16:
            stem, dot, suffix = name, "", ""
        room = _MAX_FILENAME_BYTES - len(suffix.encode()) - len(dot)
        # Cut on bytes (file systems count bytes), never inside a character.
        stem = stem.encode()[:room].decode(errors="ignore").rstrip(" .")
        name = f"{stem}{dot}{suffix}" if suffix else stem
    return name or "attachment"
