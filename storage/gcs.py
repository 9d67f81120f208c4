"""Google Cloud Storage as object storage: key `bucket/path` is the object `path` in `bucket`.

Credentials come the library's usual way (GOOGLE_APPLICATION_CREDENTIALS, the metadata server).
With STORAGE_EMULATOR_HOST set, the library talks to that emulator instead, and we use
anonymous credentials so that nothing looks for a Google account.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.exceptions import GoogleAuthError
from google.cloud.storage import Blob, Client
from google.cloud.storage.retry import DEFAULT_RETRY

from storage.base import ListedObject, ObjectInfo, ObjectNotFound, StorageError, split_key

# Failures of the transport or of the service, all reported as StorageError. NotFound is
# handled before these, since it is a GoogleAPICallError too.
_FAILURES: tuple[type[Exception], ...] = (
    api_exceptions.GoogleAPICallError,
    api_exceptions.RetryError,
    GoogleAuthError,
    requests.RequestException,
)


class GcsStorage:
    """Objects in Google Cloud Storage; one client per instance, created on first use."""

    def __init__(
        self, project: str | None = None, *, timeout: float = 30.0, retry_deadline: float = 60.0
    ) -> None:
        if timeout <= 0 or retry_deadline <= 0:
            raise ValueError("storage timeouts must be positive: a read must never block forever")
        self.project = project
        # `timeout` bounds each HTTP request; `retry_deadline` bounds the library's retries of
        # transient failures (429, 5xx, resets), so a call never outlives it by more than one
        # request's timeout.
        self.timeout = timeout
        self.retry: Retry = DEFAULT_RETRY.with_timeout(retry_deadline)
        self._client: Client | None = None
        self._lock = threading.Lock()

    def stat(self, key: str) -> ObjectInfo:
        """Size and content type from the object's metadata."""
        blob = self._blob(key)
        try:
            blob.reload(timeout=self.timeout, retry=self.retry)
        except api_exceptions.NotFound as err:
            raise _not_found(key) from err
        except _FAILURES as err:
            raise StorageError(f"cannot stat `{key}`: {err}", key=key) from err
        return ObjectInfo(key=key, size=int(blob.size or 0), content_type=blob.content_type)

    def read(self, key: str) -> bytes:
        """The object's bytes, checked against its stored checksum by the library."""
        blob = self._blob(key)
        try:
            data: bytes = blob.download_as_bytes(timeout=self.timeout, retry=self.retry)
        except api_exceptions.NotFound as err:
            raise _not_found(key) from err
        except _FAILURES as err:
            raise StorageError(f"cannot read `{key}`: {err}", key=key) from err
        return data

    def read_head(self, key: str, size: int) -> bytes:
        """The first `size` bytes (one ranged download), enough to sniff the content type."""
        blob = self._blob(key)
        try:
            data: bytes = blob.download_as_bytes(
                start=0, end=max(0, size - 1), timeout=self.timeout, retry=self.retry
            )
        except api_exceptions.NotFound as err:
            raise _not_found(key) from err
        except _FAILURES as err:
            raise StorageError(f"cannot read `{key}`: {err}", key=key) from err
        return data

    def write(self, key: str, data: bytes, content_type: str | None = None) -> ObjectInfo:
        """Upload in one request; GCS makes the new object visible only once it is complete."""
        blob = self._blob(key)
        try:
            blob.upload_from_string(
                data,
                content_type=content_type or "application/octet-stream",
                timeout=self.timeout,
                retry=self.retry,
            )
        except api_exceptions.NotFound as err:
            raise StorageError(f"cannot write `{key}`: no such bucket", key=key) from err
        except _FAILURES as err:
            raise StorageError(f"cannot write `{key}`: {err}", key=key) from err
        return ObjectInfo(key=key, size=len(data), content_type=blob.content_type)

    def list(self, prefix: str) -> Iterator[ListedObject]:
        """Objects under the folder `prefix`, in key order, a page of listing at a time."""
        bucket, path = split_key(prefix.rstrip("/"))
        try:
            blobs = self._get_client().list_blobs(
                bucket, prefix=f"{path}/", timeout=self.timeout, retry=self.retry
            )
            for blob in blobs:
                yield ListedObject(key=f"{bucket}/{blob.name}", updated=blob.updated)
        except api_exceptions.NotFound:
            return  # no such bucket: nothing stored under it
        except _FAILURES as err:
            raise StorageError(f"cannot list `{prefix}`: {err}", key=prefix) from err

    def delete(self, key: str) -> None:
        """Delete the object; one already gone is not an error."""
        try:
            self._blob(key).delete(timeout=self.timeout, retry=self.retry)
        except api_exceptions.NotFound:
            return
        except _FAILURES as err:
            raise StorageError(f"cannot delete `{key}`: {err}", key=key) from err

    def _blob(self, key: str) -> Blob:
        bucket, path = split_key(key)
        return self._get_client().bucket(bucket).blob(path)

    def _get_client(self) -> Client:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> Client:
        credentials: Credentials | None = None
        if os.environ.get("STORAGE_EMULATOR_HOST"):
            credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        try:
            return Client(project=self.project, credentials=credentials)
        except GoogleAuthError as err:
            raise StorageError(f"cannot set up Google Cloud Storage: {err}") from err


def _not_found(key: str) -> ObjectNotFound:
    return ObjectNotFound(f"attachment `{key}` not found", key=key)
