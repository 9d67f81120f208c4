"""A Google Cloud Storage emulator (gcp-storage-emulator, in memory) on a loopback port.

The google-cloud-storage library goes to it when STORAGE_EMULATOR_HOST is set to `url`, in the
test process (monkeypatch) or in the environment of the processes a test starts.
"""

from __future__ import annotations

from typing import Any

from gcp_storage_emulator.server import create_server
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage import Client

from tests.support.net import free_port

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


class GcsEmulator:
    """`start()`, then create buckets and objects with `put()`; `stop()` drops everything."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._server: Any = None

    @property
    def url(self) -> str:
        """The value for STORAGE_EMULATOR_HOST."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GcsEmulator:
        """Serve on 127.0.0.1:`port`, empty: it keeps everything in memory, so a restart forgets."""
        self._server = create_server("127.0.0.1", self.port, in_memory=True)
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def client(self) -> Client:
        """A client bound to the emulator whatever the environment says."""
        return Client(
            project="test",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.url},
        )

    def create_bucket(self, name: str) -> None:
        """Create an empty bucket."""
        self.client().create_bucket(name, timeout=10)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store `data` under `bucket/path`; the bucket must exist."""
        bucket, _, path = key.partition("/")
        blob = self.client().bucket(bucket).blob(path)
        blob.upload_from_string(data, content_type=content_type, timeout=10)

    def get(self, key: str) -> bytes:
        """The bytes stored under `bucket/path`, as the emulator has them."""
        bucket, _, path = key.partition("/")
        data: bytes = self.client().bucket(bucket).blob(path).download_as_bytes(timeout=10)
        return data

    def __enter__(self) -> GcsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
