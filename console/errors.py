"""The console's one exception: an error shown as a page with its HTTP status."""

from __future__ import annotations


class ConsoleError(Exception):
    """An error the console shows as a page with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
