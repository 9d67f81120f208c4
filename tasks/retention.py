"""The retention purge: beat runs it every MAILROOM_PURGE_INTERVAL_SECONDS, `mailroom purge` on
demand.

One run takes turns over its parts (content, records, idempotency keys), one batch of
MAILROOM_PURGE_BATCH_SIZE rows each, committed on its own, until all are done or
MAILROOM_PURGE_MAX_SECONDS have passed; what is left waits for the next run. Turns, so a
backlog of content to clear never keeps records from going. GoMail uploads go with their
email's content; a last pass deletes uploads no email keeps (a request that failed after
storing them, or a delete that failed before) once they are an hour old.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from itertools import islice

from models import utcnow
from models.idempotency_key import TTL
from storage import ObjectStorage, StorageError
from storage.base import ListedObject
from store.retention import (
    Due,
    Purged,
    content_kept,
    count_due,
    purge_content,
    purge_idempotency_keys,
    purge_records,
)
from tasks import runtime
from tasks.app import celery_app

log = logging.getLogger(__name__)

# The GoMail endpoint stores a request's files under <uploads bucket>/gomail/<email id>/.
UPLOADS_FOLDER = "gomail"
# An upload is written before its email's row is committed: younger than this, it may be one
# whose row is on its way.
ORPHAN_GRACE = timedelta(hours=1)
# Uploads looked up in the database at once.
_UPLOADS_CHUNK = 500


@dataclass
class PurgeReport:
    """What one run removed, and whether it got through everything that was due."""

    content: int = 0
    records: int = 0
    idempotency_keys: int = 0
    uploads: int = 0
    finished: bool = True


def purge(now: datetime | None = None, max_seconds: float | None = None) -> PurgeReport:
    """Purge what retention says is due, in batches, within the run's time; what it did."""
    rt = runtime.get()
    policy = rt.settings.retention
    now = now or utcnow()
    deadline = time.monotonic() + (max_seconds or policy.max_seconds)
    size = policy.batch_size
    report = PurgeReport()
    uploads = Uploads(rt.storage, rt.settings.uploads_bucket)

    records_before = now - policy.record_age if policy.record_age else None

    def content() -> int:
        assert policy.content_age is not None
        with runtime.transaction() as session:
            purged = purge_content(session, now - policy.content_age, size, records_before)
        report.content += len(purged)
        report.uploads += uploads.delete_of(purged)
        return len(purged)

    def records() -> int:
        assert records_before is not None
        with runtime.transaction() as session:
            purged = purge_records(session, records_before, size)
        report.records += len(purged)
        report.uploads += uploads.delete_of(purged)
        return len(purged)

    def keys() -> int:
        with runtime.transaction() as session:
            done = purge_idempotency_keys(session, now - TTL, size)
        report.idempotency_keys += done
        return done

    parts: list[Callable[[], int]] = [keys]
    parts += [content] if policy.content_age else []
    parts += [records] if policy.record_age else []
    while parts and time.monotonic() < deadline:
        # A part whose batch came back short has nothing more due.
        parts = [part for part in parts if part() == size]
    report.finished = not parts
    if time.monotonic() < deadline:
        with rt.sessions() as session:
            orphans = uploads.orphans(lambda ids: content_kept(session, ids), now, deadline)
            report.uploads += uploads.delete(orphans)
    else:
        report.finished = False
    log.info("retention purge: %s", asdict(report))
    return report


def due(now: datetime | None = None) -> tuple[Due, int]:
    """What a run now would remove (`mailroom purge --dry-run`): rows, and orphaned uploads."""
    rt = runtime.get()
    policy = rt.settings.retention
    now = now or utcnow()
    uploads = Uploads(rt.storage, rt.settings.uploads_bucket)
    with rt.sessions() as session:
        counts = count_due(
            session,
            now - policy.content_age if policy.content_age else None,
            now - policy.record_age if policy.record_age else None,
            now - TTL,
        )
        orphans = uploads.orphans(lambda ids: content_kept(session, ids), now, None)
        return counts, sum(1 for _ in orphans)


class Uploads:
    """The GoMail uploads in object storage, by the email they belong to."""

    def __init__(self, storage: ObjectStorage, bucket: str) -> None:
        self.storage = storage
        self.folder = f"{bucket}/{UPLOADS_FOLDER}/"

    def delete_of(self, emails: list[Purged]) -> int:
        """Delete these emails' uploads (never a caller's own objects); how many."""
        return self.delete(
            key
            for email in emails
            for key in email.attachment_keys
            if key.startswith(f"{self.folder}{email.id}/")
        )

    def delete(self, keys: Iterable[str]) -> int:
        """Delete each key; a storage failure leaves the rest for the orphan pass."""
        done = 0
        for key in keys:
            try:
                self.storage.delete(key)
            except StorageError as err:
                log.warning("retention purge: cannot delete upload %s: %s", key, err)
                return done
            done += 1
        return done

    def orphans(
        self,
        kept: Callable[[list[uuid.UUID]], set[uuid.UUID]],
        now: datetime,
        deadline: float | None,
    ) -> Iterator[str]:
        """Keys of uploads older than the grace whose email is gone or has lost its content."""
        listed = self._listed()
        while deadline is None or time.monotonic() < deadline:
            chunk = list(islice(listed, _UPLOADS_CHUNK))
            if not chunk:
                return
            old = [(key, email_id) for key, email_id, at in chunk if at < now - ORPHAN_GRACE]
            keep = kept(list({email_id for _, email_id in old}))
            yield from (key for key, email_id in old if email_id not in keep)

    def _listed(self) -> Iterator[tuple[str, uuid.UUID, datetime]]:
        try:
            for item in self.storage.list(self.folder):
                email_id = _email_id(item, self.folder)
                if email_id is not None:
                    yield item.key, email_id, item.updated
        except StorageError as err:
            log.warning("retention purge: cannot list uploads: %s", err)


def _email_id(item: ListedObject, folder: str) -> uuid.UUID | None:
    """The email an upload belongs to; None for anything else found there (left alone)."""
    try:
        return uuid.UUID(item.key.removeprefix(folder).split("/", 1)[0])
    except ValueError:
        return None


@celery_app.task(name="mailroom.purge", ignore_result=True)
def purge_task() -> dict[str, int | bool]:
    """Beat entry point of the retention purge."""
    return asdict(purge())
