"""A provider that delivers into a local folder: one `.eml` per message plus its envelope.

It is the default of the embedded setup and of development: nothing leaves the machine, and
every message can be opened with a mail client or read back by tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from providers.base import OutboundEmail, Provider, SendResult
from providers.errors import ConfigurationError, RejectedError, TransientError
from providers.mime import message_bytes

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")
# Far enough below the usual 255-byte limit to leave room for the suffixes.
_MAX_STEM = 150


def safe_stem(message_id: str) -> str:
    """A file name stem for a Message-ID: readable, and distinct for distinct ids."""
    bare = message_id.strip().removeprefix("<").removesuffix(">")
    stem = _UNSAFE.sub("_", bare).lstrip(".")
    if stem != bare or len(stem) > _MAX_STEM or not stem:
        # Substitution can map two ids onto one name; a digest of the original keeps them apart.
        digest = hashlib.sha256(message_id.encode()).hexdigest()[:16]
        stem = f"{stem[:_MAX_STEM]}-{digest}"
    return stem


class OutboxProvider(Provider):
    """Writes `<stem>.eml` (exactly what SMTP would carry) and `<stem>.json` (the envelope)."""

    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def send(self, message: OutboundEmail) -> SendResult:
        """Write the message atomically; sending the same Message-ID again replaces the files."""
        try:
            payload = message_bytes(message)
        except ValueError as err:
            raise RejectedError(str(err), provider=self.name) from err
        stem = safe_stem(message.message_id)
        # The envelope lives beside the message because Bcc recipients must not be in it.
        envelope = {
            "message_id": message.message_id,
            "mail_from": message.from_addr,
            "rcpt_to": list(message.recipients),
            "tags": list(message.tags),
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Sidecar first: whoever watches for .eml files finds the envelope already there.
            self._write_atomically(stem + ".json", json.dumps(envelope, indent=2).encode())
            self._write_atomically(stem + ".eml", payload)
        except (PermissionError, NotADirectoryError, FileExistsError) as err:
            raise ConfigurationError(
                f"outbox folder {self.directory} is not writable: {err}", provider=self.name
            ) from err
        except OSError as err:
            # A full disk or a flaky network mount may recover; let failover move on.
            raise TransientError(
                f"could not write to the outbox: {err}", provider=self.name
            ) from err
        return SendResult(provider=self.name, message_id=stem)

    def _write_atomically(self, filename: str, data: bytes) -> None:
        # Readers never see a half-written file: write a temporary one, then rename over.
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.directory / filename)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
