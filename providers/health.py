"""Which providers are worth trying right now: a provider with broken configuration is set aside
for a cooldown instead of being tried, and failing, on every message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class ProviderHealth(Protocol):
    """Shared memory of unhealthy providers; implementations must be safe to call from threads."""

    def is_available(self, name: str) -> bool:
        """Whether the provider should be tried now (never marked, or its cooldown is over)."""
        ...

    def mark_unhealthy(self, name: str, reason: str) -> None:
        """Set the provider aside for the cooldown, remembering why."""
        ...

    def mark_healthy(self, name: str) -> None:
        """Forget any earlier failure: the provider just accepted a message."""
        ...


class InMemoryHealth:
    """`ProviderHealth` for one process; after the cooldown the provider is tried again."""

    def __init__(
        self, cooldown_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if cooldown_seconds < 0:
            raise ValueError("cooldown_seconds cannot be negative")
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._unhealthy: dict[str, tuple[float, str]] = {}  # name -> (until, reason)
        self._lock = threading.Lock()

    def is_available(self, name: str) -> bool:
        """Whether the provider should be tried now (never marked, or its cooldown is over)."""
        with self._lock:
            entry = self._unhealthy.get(name)
            return entry is None or self._clock() >= entry[0]

    def mark_unhealthy(self, name: str, reason: str) -> None:
        """Set the provider aside for the cooldown, remembering why."""
        with self._lock:
            self._unhealthy[name] = (self._clock() + self.cooldown_seconds, reason)

    def mark_healthy(self, name: str) -> None:
        """Forget any earlier failure: the provider just accepted a message."""
        with self._lock:
            self._unhealthy.pop(name, None)

    def reason(self, name: str) -> str | None:
        """Why the provider was last marked unhealthy, while that mark stands."""
        with self._lock:
            entry = self._unhealthy.get(name)
            return entry[1] if entry is not None else None
