"""A local folder as object storage: key `bucket/path` is the file `<root>/bucket/path`."""

from __future__ import annotations

import mimetypes
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from storage.base import ListedObject, ObjectInfo, ObjectNotFound, split_key


class LocalStorage:
    """Objects as files under one root folder (the embedded default, and tests)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        bucket, path = split_key(key)
        return self.root / bucket / path

    def stat(self, key: str) -> ObjectInfo:
        """Size and guessed type of the file behind `key`."""
        path = self._path(key)
        try:
            size = path.stat().st_size
        except FileNotFoundError as err:
            raise ObjectNotFound(f"attachment `{key}` not found", key=key) from err
        if not path.is_file():
            raise ObjectNotFound(f"attachment `{key}` not found", key=key)
        return ObjectInfo(key=key, size=size, content_type=mimetypes.guess_type(path.name)[0])

    def read(self, key: str) -> bytes:
        """The file's bytes."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError) as err:
            raise ObjectNotFound(f"attachment `{key}` not found", key=key) from err

    def read_head(self, key: str, size: int) -> bytes:
        """The first `size` bytes of the file."""
        path = self._path(key)
        try:
            with path.open("rb") as handle:
                return handle.read(size)
        except (FileNotFoundError, IsADirectoryError) as err:
            raise ObjectNotFound(f"attachment `{key}` not found", key=key) from err

    def write(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        """Write atomically, so a reader never sees half a file."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return ObjectInfo(key=key, size=len(data), content_type=content_type)

    def list(self, prefix: str) -> Iterator[ListedObject]:
        """Files under the folder `prefix`, folder by folder (half-written uploads skipped)."""
        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith(".upload-"):
                    continue
                file = Path(dirpath) / name
                try:
                    mtime = file.stat().st_mtime
                except FileNotFoundError:
                    continue  # deleted meanwhile
                key = file.relative_to(self.root).as_posix()
                yield ListedObject(key=key, updated=datetime.fromtimestamp(mtime, UTC))

    def delete(self, key: str) -> None:
        """Remove the file, then the folders it leaves empty (up to its bucket)."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        bucket = self.root / split_key(key)[0]
        for folder in path.parents:
            if folder == bucket or bucket not in folder.parents:
                break
            try:
                folder.rmdir()
            except OSError:
                break  # not empty, or gone
