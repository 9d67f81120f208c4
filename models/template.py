"""`Template` and `TemplateTranslation`: stored email content with declared variables."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, timestamp, utcnow, uuid_pk


class Template(Base):
    """Subject and bodies in a master language, plus translations; `version` grows on edit.

    `variables` holds the declarations: [{"name", "type", "required", "default"}].
    """

    __tablename__ = "templates"
    __table_args__ = (Index("ix_templates_created_at_id", "created_at", "id"),)

    id: Mapped[uuid_pk]
    name: Mapped[str] = mapped_column(String(200))
    lang: Mapped[str] = mapped_column(String(16), default="en")
    subject: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    variables: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    attachments: Mapped[list[str]] = mapped_column(JSON, default=list)
    brand_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("brands.id", ondelete="SET NULL")
    )
    brand_styles: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[timestamp]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    translations: Mapped[list[TemplateTranslation]] = relationship(
        back_populates="template",
        cascade="all, delete-orphan",
        order_by="TemplateTranslation.lang",
        lazy="selectin",
    )


class TemplateTranslation(Base):
    """The subject and bodies of a template in one more language."""

    __tablename__ = "template_translations"

    template_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), primary_key=True
    )
    lang: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)

    template: Mapped[Template] = relationship(back_populates="translations")
