"""An email's content as it will be sent, built one way for the API's answer and the worker.

`POST /send` answers `data.body` with the HTML the worker later sends; both call
`final_content`, so the answer and the delivered message cannot drift apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.orm import Session

from mailroom.specs import TemplateLoader, load_brand
from render import Rendered, RenderError, finalize, render_template


class EmailContent(Protocol):
    """What building the final content reads of an email (a stored one, or one just accepted)."""

    @property
    def subject(self) -> str | None: ...
    @property
    def html(self) -> str | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def template_id(self) -> uuid.UUID | None: ...
    @property
    def variables(self) -> Mapping[str, Any]: ...
    @property
    def lang(self) -> str | None: ...
    @property
    def brand_id(self) -> uuid.UUID | None: ...
    @property
    def brand_styles(self) -> bool: ...
    @property
    def custom_style(self) -> str | None: ...
    @property
    def signature_html(self) -> str | None: ...
    @property
    def signature_text(self) -> str | None: ...


def final_content(
    session: Session, email: EmailContent, loader: TemplateLoader, *, derive_text: bool = True
) -> Rendered:
    """The email's content as it will be sent: rendered (a batch's template emails arrive
    unrendered), wrapped in its brand, styles inlined, signed, with its text part (unless
    `derive_text` is False and it has none). RenderError when it cannot be built."""
    content = Rendered(subject=email.subject or "", html=email.html, text=email.text)
    if email.html is None and email.template_id is not None:
        spec = loader.spec(str(email.template_id))
        if spec is None:
            raise RenderError(f"Template `{email.template_id}` not found")
        content = render_template(spec, email.variables, lang=email.lang, lookup=loader.spec)
    return finalize(
        content,
        brand=load_brand(session, email.brand_id) if email.brand_styles else None,
        brand_styles=email.brand_styles,
        custom_style=email.custom_style,
        signature=(email.signature_html, email.signature_text),
        derive_text=derive_text,
    )
