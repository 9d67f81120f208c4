"""Which providers are worth trying right now: a circuit breaker per provider.

A provider with broken configuration is set aside for a cooldown at once; one that keeps
failing (`failure_threshold` failures in a row) is set aside too. After the cooldown it is
probed again: a success closes the circuit, a failure opens it for another cooldown.
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

    def record_failure(self, name: str, reason: str) -> None:
        """Count a failure; enough of them in a row set the provider aside."""
        ...

    def mark_healthy(self, name: str) -> None:
        """Forget any earlier failure: the provider just accepted a message."""
        ...


class InMemoryHealth:
    """`ProviderHealth` for one process; after the cooldown the provider is tried again."""

    def __init__(
        self,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        failure_threshold: int = 5,
    ) -> None:
        if cooldown_seconds < 0:
            raise ValueError("cooldown_seconds cannot be negative")
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.cooldown_seconds = cooldown_seconds
        self.failure_threshold = failure_threshold
        self._clock = clock
        self._unhealthy: dict[str, tuple[float, str]] = {}  # name -> (until, reason)
        self._failures: dict[str, int] = {}
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

    def record_failure(self, name: str, reason: str) -> None:
        """Count a failure; the threshold-th in a row sets the provider aside."""
        with self._lock:
            count = self._failures.get(name, 0) + 1
            self._failures[name] = count
            if count >= self.failure_threshold:
                self._unhealthy[name] = (self._clock() + self.cooldown_seconds, reason)

    def mark_healthy(self, name: str) -> None:
        """Forget any earlier failure: the provider just accepted a message."""
        with self._lock:
            self._unhealthy.pop(name, None)
            self._failures.pop(name, None)

    def reason(self, name: str) -> str | None:
        """Why the provider was last marked unhealthy, while that mark stands."""
        with self._lock:
            entry = self._unhealthy.get(name)
            return entry[1] if entry is not None else None
