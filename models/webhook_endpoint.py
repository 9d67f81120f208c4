"""`WebhookEndpoint` and `CallbackDelivery`: status changes POSTed to the caller's URLs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, timestamp, uuid_pk


class WebhookEndpoint(Base):
    """A URL that wants some status changes (`events`, empty for all), signed with `secret`."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid_pk]
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[timestamp]


class CallbackDelivery(Base):
    """One status change for one endpoint: pending until delivered or given up on."""

    __tablename__ = "callback_deliveries"
    __table_args__ = (Index("ix_callback_deliveries_state_next", "state", "next_attempt_at"),)

    id: Mapped[uuid_pk]
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    email_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[Any] = mapped_column(JSON)
    # pending, delivered or failed (gave up after a day)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[timestamp]
    delivered_at: Mapped[datetime | None]
