"""`RateBucket`: a provider's send-rate token bucket, shared by every worker process."""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class RateBucket(Base):
    """`tokens` as of `updated` (Unix seconds, a float so SQL can do the refill arithmetic)."""

    __tablename__ = "rate_buckets"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)
