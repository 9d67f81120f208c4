"""CSV imports into a list, run by a worker a batch at a time, with their progress in the row.

`POST /lists/<id>/import` stores the upload in a `ListImport` and enqueues `mailroom.import_list`;
the task commits every batch together with the import's counts, so `GET
/lists/<id>/imports/<importId>` shows the rows done so far. A redelivered task (its worker died)
claims the import again and starts over: writing a member twice changes nothing, and the counts
restart with it. `mailroom lists import` runs the same `run_import` in its own process.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable
from typing import Any

from celery import Task
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from models import ImportState, ListImport, utcnow
from tasks import runtime
from tasks.app import celery_app
from tasks.lists import BATCH_SIZE, MemberWriter

log = logging.getLogger(__name__)

# An import keeps this many bad rows to show (`skipped` counts them all).
MAX_REPORTED_ERRORS = 1000

Progress = Callable[[ListImport], None]


def _fresh_counts() -> dict[str, Any]:
    """An import's progress before its first row: what it starts with and restarts from."""
    counts: dict[str, Any] = dict.fromkeys(
        ("bytes_done", "rows_done", "imported", "updated", "duplicates", "suppressed", "skipped"),
        0,
    )
    return {**counts, "errors": []}


def create_import(session: Session, list_id: uuid.UUID, data: bytes) -> ListImport:
    """A pending import of `data` into the list (added to the session, not committed)."""
    job = ListImport(
        list_id=list_id,
        state=ImportState.PENDING,
        data=data,
        total_bytes=len(data),
        **_fresh_counts(),
    )
    session.add(job)
    return job


def claim(session: Session, import_id: uuid.UUID) -> ListImport | None:
    """Mark the import running and reset its counts; None if it has ended (or is not there)."""
    claimed = session.execute(
        update(ListImport)
        .where(
            ListImport.id == import_id,
            ListImport.state.in_([ImportState.PENDING, ImportState.RUNNING]),
        )
        .values(
            state=ImportState.RUNNING,
            **_fresh_counts(),
            updated_at=utcnow(),
        )
    )
    session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(ListImport, import_id, populate_existing=True)


def _record(job: ListImport, writer: MemberWriter, stream: io.BytesIO) -> None:
    job.bytes_done = stream.tell()
    job.imported, job.updated = writer.added, writer.updated
    job.duplicates, job.suppressed = writer.duplicates, writer.suppressed


def _end(session: Session, job: ListImport, state: ImportState, failure: str | None) -> None:
    job.state, job.failure = state, failure
    job.data = None  # the upload is not kept once it is imported
    job.finished_at = utcnow()
    session.commit()


def run_import(session: Session, job: ListImport, on_progress: Progress | None = None) -> None:
    """Import a claimed job's CSV, committing each batch of rows with the job's counts.

    A file that is not a member CSV fails the job with the reason; rows committed before the
    reason was found stay imported (the counts say how many).
    """
    # The CSV reading and address checks are the API's, shared so both give the same verdicts.
    from api.list_rows import CsvError, Member, read_members

    stream = io.BytesIO(job.data or b"")
    writer = MemberWriter(session, job.list_id)
    errors: list[dict[str, object]] = []
    try:
        for row in read_members(stream):
            job.rows_done += 1
            if isinstance(row, Member):
                writer.add(row.email, row.name, row.variables)
            else:
                job.skipped += 1
                if len(errors) < MAX_REPORTED_ERRORS:
                    errors.append({"line": row.line, "error": row.error})
            if job.rows_done % BATCH_SIZE == 0:
                writer.flush()
                _record(job, writer, stream)
                job.errors = list(errors)  # a new list, so the JSON column sees the change
                session.commit()
                if on_progress:
                    on_progress(job)
    except CsvError as err:
        session.rollback()
        _end(session, job, ImportState.FAILED, str(err))
        return
    writer.finish()
    _record(job, writer, stream)
    job.errors = list(errors)
    _end(session, job, ImportState.DONE, None)
    if on_progress:
        on_progress(job)


def import_step(import_id: uuid.UUID) -> ImportState | None:
    """Claim and run one import; its final state, or None if it had ended already."""
    with runtime.get().sessions() as session:
        job = claim(session, import_id)
        if job is None:
            return None
        run_import(session, job)
        log.info("list import %s %s: %d rows", import_id, job.state, job.rows_done)
        return job.state


def fail_import(import_id: uuid.UUID, reason: str) -> None:
    """End an import that has not ended as failed, with the reason (its upload is dropped)."""
    with runtime.get().sessions() as session:
        session.execute(
            update(ListImport)
            .where(
                ListImport.id == import_id,
                ListImport.state.in_([ImportState.PENDING, ImportState.RUNNING]),
            )
            .values(
                state=ImportState.FAILED,
                failure=reason,
                data=None,
                finished_at=utcnow(),
                updated_at=utcnow(),
            )
        )
        session.commit()


class _ImportTask(Task):  # type: ignore[misc]
    """Gives up visibly: an import whose task failed for good (retries spent on a database
    that stayed away, or an unexpected error) ends `failed` instead of `running` forever."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        try:
            fail_import(
                uuid.UUID(args[0]),
                f"the import stopped on an unexpected error ({type(exc).__name__}); "
                "upload the file again",
            )
        except Exception:  # noqa: BLE001 - the database may be the very thing that is down
            log.exception("could not mark list import %s failed", args[0])


@celery_app.task(
    base=_ImportTask,
    name="mailroom.import_list",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    max_retries=10,
)
def import_list(import_id: str) -> None:
    """Import one uploaded CSV into its list (see `import_step`)."""
    import_step(uuid.UUID(import_id))


def enqueue_import(import_id: uuid.UUID) -> None:
    """Publish the import's task (after its row is committed)."""
    import_list.apply_async((str(import_id),))
