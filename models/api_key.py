"""`ApiKey`: a named Bearer key with scopes; only a hash of its secret is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, String, false
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, timestamp, uuid_pk

SCOPES = ("send", "read", "templates", "admin")


class ApiKey(Base):
    """A key is `mr_<prefix>_<secret>` (`mr_test_<prefix>_<secret>` in test mode); the prefix
    finds the row, the hash proves the secret."""

    __tablename__ = "api_keys"

    id: Mapped[uuid_pk]
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[timestamp]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # Test mode: the key's emails go through the whole pipeline to the sandbox provider.
    is_test: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    def allows(self, scope: str) -> bool:
        """Whether this key may act in `scope`; `admin` may do everything."""
        return self.revoked_at is None and (scope in self.scopes or "admin" in self.scopes)
