"""Object storage limited to a set of buckets: a key elsewhere is refused before any call.

On a shared cloud account the storage's credentials may reach buckets the service has no
business reading; a caller naming `someone-elses-bucket/secret.pdf` as an attachment must get
a refusal, not the file attached to an email.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from storage.base import InvalidKey, ListedObject, ObjectInfo, ObjectStorage, split_key


class BucketNotAllowed(InvalidKey):
    """The key's bucket is not one of the allowed buckets."""


class AllowedBuckets:
    """`inner`, for keys in `buckets` only."""

    def __init__(self, inner: ObjectStorage, buckets: Iterable[str]) -> None:
        self.inner = inner
        self.buckets = frozenset(buckets)

    def _check(self, key: str, *, folder: bool = False) -> str:
        bucket = key.split("/", 1)[0] if folder else split_key(key)[0]
        if bucket not in self.buckets:
            raise BucketNotAllowed(
                f"attachment `{key}`: bucket `{bucket}` is not an allowed bucket", key=key
            )
        return key

    def stat(self, key: str) -> ObjectInfo:
        """Size and type of the object; raises `BucketNotAllowed`, `ObjectNotFound`."""
        return self.inner.stat(self._check(key))

    def read(self, key: str) -> bytes:
        """The object's bytes; raises `BucketNotAllowed`, `ObjectNotFound`."""
        return self.inner.read(self._check(key))

    def read_head(self, key: str, size: int) -> bytes:
        """The first `size` bytes of the object."""
        return self.inner.read_head(self._check(key), size)

    def write(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        """Store `data` under `key` (in an allowed bucket)."""
        return self.inner.write(self._check(key), data, content_type)

    def list(self, prefix: str) -> Iterator[ListedObject]:
        """Every object under the folder `prefix` (in an allowed bucket)."""
        return self.inner.list(self._check(prefix, folder=True))

    def delete(self, key: str) -> None:
        """Remove the object (in an allowed bucket); one already gone is not an error."""
        self.inner.delete(self._check(key))
