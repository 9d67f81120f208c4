"""Cursor paging, newest first, over any model with `created_at` and `id` columns."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_

from api.errors import BadRequest

T = TypeVar("T", bound=tuple[Any, ...])


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    """An opaque cursor pointing just after this row."""
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The row a cursor points after; 400 for anything this API did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, row_id = raw.partition("|")
        return datetime.fromisoformat(at), uuid.UUID(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as err:
        raise BadRequest("`cursor` is not a cursor this API gave out") from err


def newest_first(stmt: Select[T], model: Any, cursor: str | None, limit: int) -> Select[T]:
    """Order newest first, start after `cursor`, fetch one extra row to know if more follow."""
    if cursor:
        at, row_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(model.created_at < at, and_(model.created_at == at, model.id < row_id))
        )
    return stmt.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)


def page(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    """The rows of this page and the cursor of the next one (None on the last page)."""
    if len(rows) > limit:
        last = rows[limit - 1]
        return rows[:limit], encode_cursor(last.created_at, last.id)
    return rows, None
