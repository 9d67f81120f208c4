"""`ListImport`: a CSV upload being imported into a list by a worker, and how far it got."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Integer, LargeBinary, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, enum_values, timestamp, utcnow, uuid_pk


class ImportState(enum.StrEnum):
    """`pending` until a worker claims it, `running`, then `done` or `failed` (final)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ListImport(Base):
    """One upload: the CSV itself until it is imported, then the counts and the bad rows.

    The file lives in the row rather than in object storage so that it commits with the import
    it belongs to and needs nothing shared between the API and the workers but the database;
    it is dropped once the import ends.
    """

    __tablename__ = "list_imports"

    id: Mapped[uuid_pk]
    list_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recipient_lists.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[ImportState] = mapped_column(
        Enum(ImportState, native_enum=False, length=16, values_callable=enum_values),
        default=ImportState.PENDING,
    )
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    total_bytes: Mapped[int] = mapped_column(Integer, default=0)
    # Bytes of the file read so far: progress that needs no first pass to count the rows.
    bytes_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    # The first bad rows, [{"line": 7, "error": "..."}] (capped); `skipped` counts them all.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Why a failed import stopped (a file that is not CSV, a worker that gave up).
    failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[timestamp]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]
