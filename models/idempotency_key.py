"""`IdempotencyKey`: the first answer to a request carrying an Idempotency-Key header."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, timestamp

# How long a key's first answer is replayed; older rows are expired and purged.
TTL = timedelta(hours=24)


class IdempotencyKey(Base):
    """Unique per API key and header value, so two concurrent requests cannot both insert."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("api_key_id", "key"),
        # The retention purge deletes the oldest rows first.
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    api_key_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("api_keys.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the canonical request body: the same key with another body is a conflict.
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSON)
    email_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[timestamp]
