"""Checks of the database and the broker that `/ready` and `/metrics` share out.

A flood of `/ready` or `/metrics` requests must not become a flood of database queries and
broker connections: each check runs at most once per PROBE_CACHE_SECONDS in a process, by one
thread; requests meanwhile (and threads waiting while it runs) get its last answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Probe(Generic[T]):
    """`check`'s answer, reused for `ttl` seconds; one thread runs the check at a time."""

    def __init__(self, check: Callable[[], T], ttl: float) -> None:
        self._check = check
        self._ttl = ttl
        self._lock = threading.Lock()
        self._answer: T | None = None
        self._expires = float("-inf")

    def get(self) -> T:
        """The last answer while it is fresh; else a new one (threads arriving meanwhile wait
        for it rather than run the check again)."""
        with self._lock:
            if time.monotonic() >= self._expires:
                self._answer = self._check()
                self._expires = time.monotonic() + self._ttl
            return self._answer  # type: ignore[return-value]
