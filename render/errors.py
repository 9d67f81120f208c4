"""The one exception of the render layer; its message is what the client reads."""

from __future__ import annotations


class RenderError(Exception):
    """Content could not be rendered; ``message`` is the exact client-facing text (a 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
