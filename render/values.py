"""What rich variable values become inside a template.

Jinja2 escapes with ``markupsafe.escape``, which trusts an object's ``__html__``; without
autoescape (subject and text) it calls ``str``. So one object serves both: markup in the HTML
part, plain text in the subject and the text part. Attributes start with an underscore so the
sandbox keeps templates away from them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from markupsafe import escape

from render.text import html_to_text

# What a variable is in a template's context: a string or number (escaped in HTML by Jinja),
# or a RichValue.
Scalar = str | int | float | bool


class RichValue:
    """Safe markup, with a plain-text twin made only when a plain part needs it.

    ``text`` is the twin, or a function that makes it; without it the twin is derived from
    the markup with inscriptis.
    """

    __slots__ = ("_html", "_text")

    def __init__(self, html: str, text: str | Callable[[], str] | None = None) -> None:
        self._html = html
        self._text = text

    def __html__(self) -> str:
        return self._html

    def __str__(self) -> str:
        if self._text is None:
            self._text = html_to_text(self._html)
        elif not isinstance(self._text, str):
            self._text = self._text()
        return self._text

    def __bool__(self) -> bool:
        return bool(self._html)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._html!r})"


class RichList(RichValue):
    """An array value: renders its items in order, and a template may also loop over it."""

    __slots__ = ("_items",)

    def __init__(self, items: Sequence[Scalar | RichValue]) -> None:
        # A list, not a generator: join makes one of it anyway. ``_html`` is what __html__
        # returns for every RichValue (no subclass overrides it), read without the call.
        super().__init__(
            "".join([item._html if isinstance(item, RichValue) else escape(item) for item in items])
        )
        self._items = tuple(items)

    def __str__(self) -> str:
        if not isinstance(self._text, str):
            self._text = "\n".join(str(item) for item in self._items)
        return self._text

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self) -> Iterator[Scalar | RichValue]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Scalar | RichValue:
        return self._items[index]


ContextValue = Scalar | RichValue
