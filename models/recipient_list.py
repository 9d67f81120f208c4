"""`RecipientList` and `ListMember`: named address lists a batch send can page through."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, timestamp, utcnow, uuid_pk


class RecipientList(Base):
    """A named list; `member_count` is kept up to date by whoever adds members."""

    __tablename__ = "recipient_lists"

    id: Mapped[uuid_pk]
    name: Mapped[str] = mapped_column(String(200))
    # Stored rather than counted on every read: a list may hold hundreds of thousands of rows.
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[timestamp]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ListMember(Base):
    """One address of a list (lower-cased), with the per-recipient variables of a CSV row.

    The primary key (list_id, email) makes an address unique in its list, and its index is the
    one that pages a list by email (keyset, no OFFSET) and that upserts conflict on.
    """

    __tablename__ = "list_members"

    list_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("recipient_lists.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # On the suppression list when the member was last added or imported; a send checks again.
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[timestamp]
